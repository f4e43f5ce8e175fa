"""Optimizers for the training loop (TensorFlow only).

`FusedAdam` is Keras's Adam with the same variables, checkpoints and arithmetic, whose per-variable update is
TensorFlow's fused `ResourceApplyAdam` kernel: one multithreaded pass over the weight and its two moments instead
of about a dozen element-wise operations, each a pass over memory. At the paper's model size (134 M weights) the
update is a memory-bound share of every step; see docs/speed.md.
"""
import math

import keras
import tensorflow as tf

from keras_vidrep.errors import ConfigError


class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` (without amsgrad) updated by `tf.raw_ops.ResourceApplyAdam`.

    Keras's Adam: m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) +
    eps); the fused kernel computes the same expression.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.amsgrad:
            raise ValueError("FusedAdam does not implement amsgrad; use keras.optimizers.Adam")

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        return tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(m), v=_handle(v),
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype), beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)


def _handle(variable):
    """The resource handle of a Keras variable (its TensorFlow variable; under a distribution strategy, the copy on
    the device being updated)."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


class BudgetCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Keras's cosine decay (after a linear warm-up from 0 over `warmup_steps`) as a function of the training's
    progress, which a time budget can re-plan without a jump: progress runs from `anchor_progress` at step
    `anchor_step` to 1 at step `end_step`, linearly; a new plan moves the anchor to the current step and progress,
    and the end to the new last step. With the anchor at the warm-up's end and progress 0 it is `CosineDecay` with
    `decay_steps` = `end_step` - `warmup_steps`.

    Args:
      peak: the learning rate after the warm-up.
      end_step: the step at which the rate reaches `floor` x `peak`.
      floor: the final rate, as a fraction of `peak`.
      warmup_steps: steps of linear warm-up from 0 (0: none).
    """

    def __init__(self, peak, end_step, floor=0.0, warmup_steps=0):
        self.peak, self.floor, self.warmup_steps = float(peak), float(floor), int(warmup_steps)
        self.anchor_step = tf.Variable(float(warmup_steps), trainable=False, name="schedule_anchor_step")
        self.anchor_progress = tf.Variable(0.0, trainable=False, name="schedule_anchor_progress")
        self.end_step = tf.Variable(float(max(end_step, warmup_steps + 1)), trainable=False, name="schedule_end")

    def replan(self, step, end_step):
        """From `step` on, the rest of the decay is spread over the steps up to `end_step`."""
        if step > self.warmup_steps:
            self.anchor_progress.assign(float(self.progress(step)))
            self.anchor_step.assign(float(step))
        self.end_step.assign(float(max(end_step, float(self.anchor_step.numpy()) + 1)))

    def anchors(self):
        """The plan's variables, as budget.json records them."""
        return {"anchor_step": float(self.anchor_step.numpy()), "anchor_progress": float(self.anchor_progress.numpy()),
                "end_step": float(self.end_step.numpy())}

    def restore(self, anchors):
        """Continues a recorded plan (`anchors()` of the run that made it)."""
        for name in ("anchor_step", "anchor_progress", "end_step"):
            if anchors.get(name) is not None:
                getattr(self, name).assign(float(anchors[name]))

    def progress(self, step):
        step = tf.cast(step, tf.float32)
        span = tf.maximum(self.end_step - self.anchor_step, 1.0)
        return tf.clip_by_value(self.anchor_progress + (1.0 - self.anchor_progress) * (step - self.anchor_step) / span,
                                0.0, 1.0)

    def __call__(self, step):
        decayed = self.floor + (1.0 - self.floor) * 0.5 * (1.0 + tf.cos(math.pi * self.progress(step)))
        rate = self.peak * decayed
        if self.warmup_steps:
            warm = self.peak * tf.cast(step, tf.float32) / float(self.warmup_steps)
            rate = tf.where(tf.cast(step, tf.float32) < float(self.warmup_steps), warm, rate)
        return rate

    def get_config(self):
        return {"peak": self.peak, "end_step": float(self.end_step.numpy()), "floor": self.floor,
                "warmup_steps": self.warmup_steps}


def build_optimizer(config, scale=1.0, schedules=None):
    """The Keras optimizer a config names, at `scale` times its learning rate (and schedule). The schedule reads
    the optimizer's own step count, which checkpoints keep, so a resumed run continues it. With `schedules` (a list:
    a run with a time budget), a cosine schedule is a `BudgetCosine` the budget plans, appended to the list."""
    rate = config.learning_rate * scale
    if config.learning_rate_schedule == "cosine":
        warmup = config.warmup_steps
        if schedules is not None:
            rate = BudgetCosine(rate, config.train_steps, config.learning_rate_floor, warmup)
            schedules.append(rate)
        else:
            rate = keras.optimizers.schedules.CosineDecay(
                0.0 if warmup else rate, max(1, config.train_steps - warmup), alpha=config.learning_rate_floor,
                warmup_target=rate if warmup else None, warmup_steps=warmup)
    if config.optimizer == "adam":
        return FusedAdam(rate, name="adam")
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=config.momentum)
    raise ConfigError(f"`optimizer` must be adam, sgd or rmsprop, got {config.optimizer!r}")


def optimizer_groups(config, model, scales):
    """One optimizer per learning-rate scale the task asks for (Adam ignores a gradient's scale, so a lower rate for
    some variables needs an optimizer of its own), each built on its variables.

    Args:
      scales: {variable path: factor} (see `Task.learning_rate_scales`); others train at the full rate.

    Returns:
      ([(optimizer, indices into model.trainable_variables)], the full rate's first; the cosine schedules a time
      budget plans, when `config.train_minutes` is set).
    """
    factors = [scales.get(v.path, 1.0) for v in model.trainable_variables]
    groups, schedules = [], []
    for factor in sorted(set(factors), key=lambda f: f != 1.0):
        optimizer = build_optimizer(config, factor, schedules if config.train_minutes else None)
        indices = [i for i, f in enumerate(factors) if f == factor]
        optimizer.build([model.trainable_variables[i] for i in indices])
        groups.append((optimizer, indices))
    return groups, schedules
