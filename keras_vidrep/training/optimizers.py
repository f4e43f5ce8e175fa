"""Optimizers for the training loop (TensorFlow only).

`FusedAdam` is Keras's Adam with the same variables, checkpoints and arithmetic, whose per-variable update is
TensorFlow's fused `ResourceApplyAdam` kernel: one multithreaded pass over the weight and its two moments instead
of about a dozen element-wise operations, each a pass over memory. At the paper's model size (134 M weights) the
update is a memory-bound share of every step; see docs/speed.md.
"""
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


def build_optimizer(config, scale=1.0, schedules=None):
    """The Keras optimizer a config names, at `scale` times its learning rate (and schedule). The schedule reads
    the optimizer's own step count, which checkpoints keep, so a resumed run continues it. A cosine schedule is
    appended to the list `schedules` if given, with its length in a variable (`decay_steps`) that a time budget
    sets once the run's steps are known."""
    rate = config.learning_rate * scale
    if config.learning_rate_schedule == "cosine":
        warmup = config.warmup_steps
        rate = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else rate, max(1, config.train_steps - warmup), alpha=config.learning_rate_floor,
            warmup_target=rate if warmup else None, warmup_steps=warmup)
        if schedules is not None:
            rate.decay_steps = tf.Variable(float(rate.decay_steps), trainable=False, name="schedule_steps")
            schedules.append(rate)
    if config.optimizer == "adam":
        return FusedAdam(rate, name="adam")
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=config.momentum)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=config.momentum)
    raise ConfigError(f"`optimizer` must be adam, sgd or rmsprop, got {config.optimizer!r}")
