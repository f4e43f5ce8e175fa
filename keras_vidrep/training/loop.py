"""The custom distributed training loop: `strategy.run(step, args=(next(iterator),))` inside a tf.function.

Everything a run writes goes under `model_dir`: config.json, checkpoints/, train/ and validation/ TensorBoard events;
the SavedModel goes to the export directory at the end. Re-running with the same `model_dir` resumes at the last
checkpoint, and the data stream resumes at that step too.
"""
import hashlib
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from keras_vidrep import baselines, losses, viz
from keras_vidrep.config import CONFIG_FILE, Config
from keras_vidrep.data import pipeline
from keras_vidrep.errors import ConfigError, VidrepError
from keras_vidrep.export import export_saved_model
from keras_vidrep.models import composite
from keras_vidrep.training import checkpoints
from keras_vidrep.training.strategy import build_strategy, is_chief, task_of
from keras_vidrep.training.summaries import SummaryWriters
from keras_vidrep.training.watchdog import Watchdog

IMAGE_SEQUENCES = 4  # sequences shown in each TensorBoard image summary
BASELINE_SEQUENCES = 512  # training sequences the mean-frame baseline is estimated from


class NonFiniteLossError(VidrepError):
    """Training produced a NaN or Inf loss."""


def build_optimizer(config):
    """The Keras optimizer a config names."""
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(config.learning_rate, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(config.learning_rate, momentum=config.momentum)
    raise ConfigError(f"`optimizer` must be adam, sgd or rmsprop, got {config.optimizer!r}")


def prepare_model_dir(config):
    """Creates model_dir, refuses to resume a run of another architecture, and writes config.json."""
    if not config.model_dir:
        raise ConfigError("`model_dir` is required")
    try:
        os.makedirs(config.model_dir, exist_ok=True)
        probe = os.path.join(config.model_dir, ".write_test")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError as e:
        raise ConfigError(f"`model_dir` {config.model_dir!r} is not writable ({e.strerror})") from None
    if os.path.isfile(os.path.join(config.model_dir, CONFIG_FILE)):
        previous = Config.load(config.model_dir)
        changed = previous.architecture_changes(config)
        if changed:
            raise ConfigError(f"`model_dir` {config.model_dir!r} holds a run with a different model ("
                              f"{'; '.join(changed)}); use a new `model_dir`")
    config.save(config.model_dir)


class Trainer:
    """Builds the strategy, model, optimizer, data and checkpoints of one run and trains it.

    Args:
      config: a validated `Config`.
    """

    def __init__(self, config):
        self.config = config
        multi_worker = config.strategy == "multi_worker"
        self.watchdog = Watchdog(config.worker_timeout) if multi_worker else None
        self.strategy = build_strategy(config.strategy, config.cpu_replicas,
                                       config.worker_timeout if multi_worker else None)
        self.chief = is_chief(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ConfigError(f"`batch_size` {config.batch_size} is not divisible by the {replicas} replicas")
        # Read all data before writing anything, so that bad input leaves no half-made model directory.
        self.generator = pipeline.bouncing_generator(config, "train")
        self.val_sequences = pipeline.validation_sequences(config)
        if self.chief:
            prepare_model_dir(config)
            self.write_dir = config.model_dir
        else:  # other workers save (as every worker must) into a private directory that is removed at the end
            self.write_dir = tempfile.mkdtemp(prefix=f"vidrep-worker{task_of(self.strategy)[1]}-")
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        with self.strategy.scope():
            self.model = composite.from_config(config)
            self.optimizer = build_optimizer(config)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.manager = checkpoints.checkpoint_manager(self.write_dir, self.model, self.optimizer, self.step,
                                                      config.keep_checkpoints)
        self.restored = checkpoints.restore_latest(self.manager.checkpoint, config.model_dir)
        self.summaries = SummaryWriters(config.model_dir, enabled=self.chief)
        params = sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)
        logging.info("%s model, %s parameters; global batch %d = %d replica(s) x %d per replica", config.model,
                     f"{params:,}", config.batch_size, replicas, config.batch_size // replicas)
        self._train_step = self._make_train_step()
        self._eval_step = tf.function(self._eval_losses)

    def weights_fingerprint(self):
        """SHA-256 of all model weights (float32 bytes, in order): equal fingerprints mean identical weights."""
        digest = hashlib.sha256()
        for weight in self.model.weights:
            digest.update(np.ascontiguousarray(np.asarray(weight), np.float32).tobytes())
        return digest.hexdigest()

    def _make_train_step(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        global_batch = self.config.batch_size
        clipnorm = self.config.clipnorm

        def replica_step(inputs, futures):
            with tf.GradientTape() as tape:
                logits = model.forward(inputs, futures, teacher_forcing=True)
                per_example = losses.composite_losses(model, inputs, futures, logits)
                total = tf.add_n(list(per_example.values()))
                loss = tf.nn.compute_average_loss(total, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            if clipnorm:
                grads = _clip_global_norm_across_replicas(grads, clipnorm)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            per_example["total"] = total
            return {k: tf.nn.compute_average_loss(v, global_batch_size=global_batch) for k, v in per_example.items()}

        @tf.function
        def train_step(iterator):
            results = strategy.run(replica_step, args=next(iterator))
            self.step.assign_add(1)
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in results.items()}

        return train_step

    def _eval_losses(self, inputs, futures):
        """Summed per-example losses of a batch: free-running, and teacher-forced where that differs."""
        out = {}
        free = self.model.forward(inputs)
        for name, value in losses.composite_losses(self.model, inputs, futures, free).items():
            out[name] = tf.reduce_sum(value)
        if self.model.predicts and self.model.conditional_future:
            forced = self.model.forward(inputs, futures, teacher_forcing=True)
            out["future_teacher_forced"] = tf.reduce_sum(
                losses.composite_losses(self.model, inputs, futures, forced)["future"])
        return out

    def evaluate(self, val_sequences):
        """Mean per-frame losses (nats/frame for sigmoid output) over the validation set."""
        totals, count = {}, 0
        for inputs, futures in pipeline.array_dataset(val_sequences, self.config.batch_size,
                                                      self.config.input_frames, self.config.future_frames):
            for name, value in self._eval_step(inputs, futures).items():
                totals[name] = totals.get(name, 0.0) + float(value)
            count += int(inputs.shape[0])
        result = {name: value / count for name, value in totals.items()}
        if "reconstruction" in result and "future" in result:
            result["total"] = result["reconstruction"] + result["future"]
        return result

    def write_images(self, step, val_sequences):
        """TensorBoard strips: ground truth (top) against reconstruction | free-running prediction (bottom)."""
        cfg = self.config
        shown = val_sequences[:IMAGE_SEQUENCES]
        truth_in = shown[:, :cfg.input_frames]
        truth_out = shown[:, cfg.input_frames:cfg.input_frames + cfg.future_frames]
        inputs, _ = pipeline.split_frames(shown, cfg.input_frames, cfg.future_frames)
        outputs = {k: np.asarray(v).reshape(len(shown), -1, *cfg.frame_shape) for k, v in self.model(inputs).items()}
        recon = outputs.get("reconstruction", [None] * len(shown))
        pred = outputs.get("future", [None] * len(shown))
        strips = [viz.comparison_strip(truth_in[i], truth_out[i], recon[i], pred[i]) for i in range(len(shown))]
        self.summaries.images("validation", step, "sequences", strips,
                              "Top: input frames then true future. Bottom: reconstruction (in input order) then "
                              "free-running prediction.")
        frames = viz.side_by_side_frames(truth_in[0], truth_out[0], recon[0], pred[0])
        self.summaries.animation("validation", step, "animation", viz.gif_bytes(frames, scale=1),
                                 frames.shape[2], frames.shape[1],
                                 "Left: ground truth. Right: reconstruction, then free-running prediction.")

    def train(self):
        """Trains up to `train_steps`, then saves a final checkpoint and (optionally) exports.

        Returns:
          dict of final validation losses per frame (free-running; `future_teacher_forced` for a conditional
          future predictor) and the `baseline/...` losses of the mean-frame and copy-last predictors.
        """
        cfg = self.config
        start = int(self.step.numpy())
        if start >= cfg.train_steps:
            logging.info("model_dir already at step %d >= train_steps %d; nothing to train", start, cfg.train_steps)
        iterator = iter(self.strategy.distribute_datasets_from_function(
            lambda ctx: pipeline.train_dataset(self.generator, cfg.batch_size, cfg.input_frames, cfg.future_frames,
                                               start_step=start, input_context=ctx)))
        self.baselines = {f"baseline/{k}": v for k, v in baselines.baseline_losses(
            self.generator.sequences(np.arange(BASELINE_SEQUENCES)), self.val_sequences, cfg.input_frames,
            cfg.future_frames, cfg.output).items()}
        logging.info("validation baselines per frame (probabilities clipped to [%g, 1-%g]): %s",
                     baselines.PROBABILITY_CLIP, baselines.PROBABILITY_CLIP,
                     ", ".join(f"{k} {v:.1f}" for k, v in self.baselines.items()))
        window, val = _RunningMeans(), {}
        bar = tqdm(total=cfg.train_steps, initial=start, desc="train", unit="step", dynamic_ncols=True,
                   mininterval=1.0)
        try:
            for step in range(start + 1, cfg.train_steps + 1):
                results = {k: float(v) for k, v in self._train_step(iterator).items()}
                if not all(np.isfinite(v) for v in results.values()):
                    raise NonFiniteLossError(
                        f"non-finite loss at step {step} ({results}); stopped without saving. The last good "
                        f"checkpoint is {self.manager.latest_checkpoint or 'none'}")
                if self.watchdog:
                    self.watchdog.kick()
                window.add(results)
                bar.update(1)
                bar.set_postfix(loss=f"{results['total']:.1f}", refresh=False)
                val = self._periodic_work(step, window, bar) or val
        except KeyboardInterrupt:
            bar.close()
            path = self.manager.save(checkpoint_number=int(self.step.numpy()))
            logging.warning("interrupted: saved %s; run the same command again to resume", path)
            raise
        finally:
            bar.close()  # before any error message, so that the bar does not end the output
        return self._finish(val)

    def _periodic_work(self, step, window, bar):
        """Summaries, validation, images and checkpoints due at `step`; returns validation losses if run."""
        cfg, last, val = self.config, step == self.config.train_steps, None
        if step % cfg.summary_every == 0 or last:
            scalars = window.pop()
            scalars["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
            self.summaries.scalars("train", step, scalars)
        if step % cfg.eval_every == 0 or last:
            val = self.evaluate(self.val_sequences)
            self.summaries.scalars("validation", step, {**{f"loss/{k}": v for k, v in val.items()},
                                                        **self.baselines})
            bar.write(f"step {step}: validation loss per frame (free-running unless marked): " +
                      ", ".join(f"{k} {v:.1f}" for k, v in val.items()))
        if step % cfg.image_every == 0 or last:
            self.write_images(step, self.val_sequences)
        if step % cfg.checkpoint_every == 0:
            self.manager.save(checkpoint_number=step)
        return val

    def _finish(self, val):
        """Final checkpoint, validation (if none ran), clean-up and export."""
        final = int(self.step.numpy())
        if self.manager.latest_checkpoint != os.path.join(self.manager.directory, f"ckpt-{final}"):
            self.manager.save(checkpoint_number=final)
        self.summaries.flush()
        val = val or self.evaluate(self.val_sequences)
        if self.watchdog:
            self.watchdog.stop()
        if not self.chief:
            shutil.rmtree(self.write_dir, ignore_errors=True)
        elif self.config.export:
            export_saved_model(self.undistributed_model(), self.config, self.config.resolved_export_dir)
        return {**val, **self.baselines}

    def undistributed_model(self):
        """The model itself, or under a distribution strategy a plain copy of it with the same weights."""
        if self.strategy is tf.distribute.get_strategy():  # the default (no) strategy
            return self.model
        copy = composite.from_config(self.config)
        copy.set_weights(self.model.get_weights())
        return copy


class _RunningMeans:
    """Averages of per-step losses since the last `pop()`, plus the steps per second over that window."""

    def __init__(self):
        self._sums, self._steps, self._start = {}, 0, time.perf_counter()

    def add(self, values):
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._steps += 1

    def pop(self):
        elapsed = time.perf_counter() - self._start
        out = {f"loss/{k}": v / self._steps for k, v in self._sums.items()}
        out["steps_per_second"] = self._steps / elapsed
        self._sums, self._steps, self._start = {}, 0, time.perf_counter()
        return out


def _clip_global_norm_across_replicas(grads, clipnorm):
    """Clips by the global norm of the gradient summed over replicas, so the result does not depend on the
    replica count. The optimizer sums gradients over replicas again, hence the division by the replica count."""
    ctx = tf.distribute.get_replica_context()
    summed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
    clipped, _ = tf.clip_by_global_norm(summed, clipnorm)
    return [g / ctx.num_replicas_in_sync for g in clipped]


def train(config):
    """Validates `config` and trains.

    Returns:
      dict: `model_dir`, `step` (final), `final_validation` (see `Trainer.train`), `weights_sha256`
      (see `Trainer.weights_fingerprint`) and `chief` (whether this process wrote the outputs).
    """
    try:
        trainer = Trainer(config.validate())
        validation = trainer.train()
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        if config.strategy != "multi_worker":
            raise
        raise VidrepError(f"multi-worker training stopped: a peer worker is unreachable or died "
                          f"({type(e).__name__}: {str(e).strip().splitlines()[0]})") from None
    return {"model_dir": config.model_dir, "step": int(trainer.step.numpy()), "final_validation": validation,
            "weights_sha256": trainer.weights_fingerprint(), "chief": trainer.chief}
