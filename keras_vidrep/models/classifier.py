"""An LSTM classifier of clips (keras.ops only): a softmax at every step, the clip's prediction the mean of them.

Its `encoder` is the same `LSTMStack` as a `CompositeModel`'s encoder, so it can start from one trained without
labels (`load_encoder`).
"""
import keras
from keras import ops

from keras_vidrep.models.lstm import LSTMStack


@keras.saving.register_keras_serializable(package="keras_vidrep")
class LSTMClassifier(keras.Model):
    """Clips (batch, steps, input_dim) → class probabilities at every step and per clip.

    Args:
      input_dim: values per step (a flattened frame, or a feature vector).
      num_classes: classes.
      units: LSTM state sizes, one per layer.
      input_dropout: dropout rate on the inputs while training. The randomness comes with the batch
        (`dropout_noise`, uniform in [0, 1) and shaped like the clips), so that a training step is a function of
        its batch alone: the same on any number of replicas and after a resume.
      peepholes, initializer, seed: as `LSTMStack`.
    """

    def __init__(self, input_dim, num_classes, units=(2048,), input_dropout=0.0, peepholes=False,
                 initializer="keras", seed=None, **kwargs):
        # Float32 in and out under any dtype policy; the layers inside follow the global policy
        # (see training.step.dtype_policy).
        super().__init__(**{"dtype": "float32", **kwargs})
        for name, value in (("input_dim", input_dim), ("num_classes", num_classes)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if not 0.0 <= input_dropout < 1.0:
            raise ValueError(f"`input_dropout` must be in [0, 1), got {input_dropout!r}")
        self.input_dim, self.num_classes = input_dim, num_classes
        self.units = [int(u) for u in units]
        self.input_dropout, self.peepholes, self.initializer, self.seed = input_dropout, peepholes, initializer, seed
        self.encoder = LSTMStack(self.units, peepholes, initializer, seed=seed, name="encoder")
        self.readout = keras.layers.Dense(num_classes, name="readout")

    def build(self, input_shape=None):
        self.encoder.build((None, self.input_dim))
        self.readout.build((None, self.units[-1]))

    def step_logits(self, clips, training=False, dropout_noise=None):
        """Logits at every step, (batch, steps, num_classes). Training with `input_dropout` needs `dropout_noise`:
        a value is dropped where its noise is below the rate (inverted dropout)."""
        x = clips
        if training and self.input_dropout:
            if dropout_noise is None:
                raise ValueError("training with `input_dropout` needs `dropout_noise` (uniform in [0, 1), shaped "
                                 "like the clips)")
            keep = ops.cast(ops.greater_equal(dropout_noise, self.input_dropout), clips.dtype)
            x = clips * keep / (1.0 - self.input_dropout)
        hidden, _ = self.encoder.run(x, self.encoder.zero_state(ops.shape(clips)[0], clips.dtype))
        return ops.cast(self.readout(hidden), "float32")  # float32 whatever the layer's compute dtype

    def call(self, clips, training=False, dropout_noise=None):
        """{"per_step": softmax at every step (batch, steps, C), "clip": their mean (batch, C)}."""
        per_step = ops.softmax(self.step_logits(clips, training, dropout_noise), axis=-1)
        return {"per_step": per_step, "clip": ops.mean(per_step, axis=1)}

    def get_config(self):
        config = super().get_config()
        config.update(input_dim=self.input_dim, num_classes=self.num_classes, units=self.units,
                      input_dropout=self.input_dropout, peepholes=self.peepholes, initializer=self.initializer,
                      seed=self.seed)
        return config


def load_encoder(classifier, composite_model):
    """Copies a CompositeModel's encoder weights into the classifier's encoder (they must have the same shape)."""
    source, target = composite_model.encoder, classifier.encoder
    mine = [tuple(w.shape) for w in target.weights]
    theirs = [tuple(w.shape) for w in source.weights]
    if mine != theirs:
        raise ValueError(f"the pretrained encoder's weights {theirs} do not fit the classifier's {mine}: use the "
                         f"same `units`, `peepholes` and input size")
    for dst, src in zip(target.weights, source.weights):
        dst.assign(src)
