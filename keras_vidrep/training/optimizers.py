"""Optimizers for the training loop (TensorFlow only).

`FusedAdam` is Keras's Adam with the same variables, checkpoints and arithmetic, whose per-variable update is
TensorFlow's fused `ResourceApplyAdam` kernel: one multithreaded pass over the weight and its two moments instead
of about a dozen element-wise operations, each a pass over memory. At the paper's model size (134 M weights) the
update is a memory-bound share of every step; see the README's speed table.
"""
import keras
import tensorflow as tf


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
