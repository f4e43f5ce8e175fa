"""One distributed optimizer step: `strategy.run(replica_step, args=next(iterator))` inside a tf.function.

Per replica: the task's per-example losses averaged over the GLOBAL batch, plus the model's `add_loss` terms (each
a per-replica value, counted once whatever the number of replicas); gradients clipped by the norm of their sum over
replicas; one optimizer per learning-rate group. The step also reports whether any replica's gradients were
non-finite (`NONFINITE`), so that the loop stops before such an update reaches a checkpoint.
"""
import contextlib
import math

import keras
import tensorflow as tf

from keras_vidrep.runs.checkpoints import NonFiniteError

NONFINITE = "nonfinite_gradients"  # replicas whose gradients held a NaN or Inf (0 on a healthy step)


def make_train_step(model, groups, strategy, task, step, config):
    """`train_step(iterator)` → {name: value summed over replicas} for one global batch; increments `step`.

    Args:
      model: the model (made under `strategy.scope()`).
      groups: [(optimizer, indices into model.trainable_variables)].
      strategy: the tf.distribute strategy.
      task: the run's task (`train_losses`).
      step: the global step variable.
      config: the run's config (`batch_size`, `clipnorm`, `jit_compile`).
    """
    global_batch = config.batch_size
    clipnorm = config.clipnorm

    def gradients(*batch):
        with tf.GradientTape() as tape:
            per_example = task.train_losses(model, batch)
            total = tf.add_n(list(per_example.values()))
            loss = tf.nn.compute_average_loss(total, global_batch_size=global_batch)
            added = added_losses(model)  # add_loss terms: one per-replica value each, counted once
            for value in added.values():
                loss += tf.nn.scale_regularization_loss(value)
        return per_example, added, loss, tape.gradient(loss, model.trainable_variables)

    def apply(grads):
        grads, norm = clip_across_replicas(grads, clipnorm)
        variables = model.trainable_variables
        for optimizer, indices in groups:
            optimizer.apply_gradients([(grads[i], variables[i]) for i in indices])
        return norm

    if config.jit_compile:  # collectives stay outside XLA: with several replicas only the gradients are compiled
        gradients = tf.function(gradients, jit_compile=True, autograph=False)
        if strategy.num_replicas_in_sync == 1:
            apply = tf.function(apply, jit_compile=True, autograph=False)

    def replica_step(*batch):
        per_example, added, loss, grads = gradients(*batch)
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])
        norm = apply(grads)
        out = {k: tf.nn.compute_average_loss(v, global_batch_size=global_batch) for k, v in per_example.items()}
        out.update({name: tf.nn.scale_regularization_loss(value) for name, value in added.items()})
        out["total"] = loss
        if norm is not None:
            out["gradient_norm"] = norm / tf.cast(strategy.num_replicas_in_sync, norm.dtype)
        out[NONFINITE] = 1.0 - tf.cast(finite, tf.float32)
        return out

    @tf.function(autograph=False)
    def train_step(iterator):
        results = strategy.run(replica_step, args=next(iterator))
        step.assign_add(1)
        return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in results.items()}

    return train_step


def added_losses(model):
    """{name: sum} of the model's `add_loss` terms of its last call: one entry per top-level layer that added
    any (named by the layer, e.g. `kl`), and `added_losses` for terms added elsewhere."""
    named = {layer.name: layer.losses for layer in model.layers if layer.losses}
    rest = len(model.losses) - sum(len(terms) for terms in named.values())
    if rest < 0 or (rest and not named):
        return {"added_losses": tf.add_n(model.losses)} if model.losses else {}
    out = {name: tf.add_n(terms) for name, terms in named.items()}
    if rest:
        out["added_losses"] = tf.add_n(model.losses) - tf.add_n(list(out.values()))
    return out


def clip_across_replicas(grads, clipnorm):
    """(gradients, global norm of the gradient summed over replicas), clipped to `clipnorm` (0: not clipped).

    Clipping the summed gradient makes the result independent of the replica count. The optimizer sums
    gradients over replicas again, hence the division by the replica count. Without clipping and with several
    replicas the gradients are left alone (no extra all-reduce) and the norm is None."""
    ctx = tf.distribute.get_replica_context()
    if not clipnorm and ctx.num_replicas_in_sync > 1:
        return grads, None
    summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads) if ctx.num_replicas_in_sync > 1 else grads
    norm = tf.linalg.global_norm(summed)
    if clipnorm:
        summed, _ = tf.clip_by_global_norm(summed, clipnorm, use_norm=norm)
    return [g / ctx.num_replicas_in_sync for g in summed], norm


def check_finite(step, results, last_good):
    """NonFiniteError if a loss or any replica's gradient of global step `step` was NaN or Inf (the flag is removed
    from `results`): the step's update is never saved. `last_good`: the latest checkpoint, for the message."""
    bad_gradients = results.pop(NONFINITE) or not math.isfinite(results.get("gradient_norm", 0.0))
    bad = [k for k, v in results.items() if k != "gradient_norm" and not math.isfinite(v)]
    if bad or bad_gradients:
        what = f"loss ({', '.join(f'{k}={results[k]}' for k in bad)})" if bad else "gradient (the loss is finite)"
        raise NonFiniteError(f"non-finite {what} at step {step}; stopped without saving. The last good checkpoint is "
                             f"{last_good or 'none'}")


@contextlib.contextmanager
def dtype_policy(name):
    """Keras's global dtype policy set to `name` while the block runs (layers keep the policy they were made
    under), then restored."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
