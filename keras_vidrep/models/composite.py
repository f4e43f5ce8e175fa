"""The composite LSTM model: an encoder, a reconstruction decoder and a future predictor (keras.ops only).

  * The encoder reads the input frames x_0 .. x_{T-1}.
  * The reconstruction decoder outputs the input frames in reverse order: step t targets x_{T-1-t}.
  * The future predictor outputs the next frames: step t targets x_{T+t}.
  * Both decoders start from the encoder's final (h, c) of every layer and have their own weights.
  * A conditional decoder reads a zero frame at step 0 and the previous target frame after that. The reconstruction
    decoder always reads ground truth (the input frames are known). The future predictor reads ground truth when
    teacher-forced, its own previous output when free-running (inference), and with scheduled sampling a per-step,
    per-sequence choice between the two (`truth_mask`).

Outputs are logits (`forward`) or frames (`call`, `reconstruct`, `predict_future`): sigmoid probabilities for
binary data, the linear output itself for real-valued data.
"""
import keras
from keras import ops

from keras_vidrep.models.lstm import INITIALIZERS, LSTMStack

MODEL_TYPES = ("composite", "autoencoder", "future")
OUTPUTS = ("sigmoid", "linear")


@keras.saving.register_keras_serializable(package="keras_vidrep")
class CompositeModel(keras.Model):
    """Unsupervised video model: LSTM encoder + reconstruction decoder and/or future predictor.

    Args:
      frame_dim: pixels (features) per flattened frame.
      units: state sizes, one per LSTM layer (shared by encoder and decoders).
      input_frames: frames the encoder reads (and the reconstruction decoder outputs).
      future_frames: frames the future predictor outputs by default.
      model_type: `composite`, `autoencoder` (reconstruction only) or `future` (future prediction only).
      conditional_reconstruction: the reconstruction decoder reads the previous target frame.
      conditional_future: the future predictor reads the previous frame.
      peepholes: peephole connections in every LSTM.
      output: `sigmoid` (binary data, Bernoulli cross-entropy) or `linear` (real-valued, squared error).
      initializer: `keras` or `original` (see `LSTMCell`).
      bottleneck: if > 0, a compact code of this size (a dense tanh layer on the encoder's final states) from
        which a dense layer gives the decoders their initial states.
      seed: initializer seed.
      implementation: `fused` or `unrolled` recurrences over known inputs (see `LSTMCell`).
    """

    def __init__(self, frame_dim, units=(256,), input_frames=10, future_frames=10, model_type="composite",
                 conditional_reconstruction=False, conditional_future=False, peepholes=False, output="sigmoid",
                 initializer="keras", seed=None, bottleneck=0, implementation="fused", **kwargs):
        # Float32 in and out under any dtype policy; the layers inside follow the global policy
        # (see training.step.dtype_policy).
        super().__init__(**{"dtype": "float32", **kwargs})
        for name, value in (("frame_dim", frame_dim), ("input_frames", input_frames)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if model_type not in MODEL_TYPES:
            raise ValueError(f"`model_type` must be one of {', '.join(MODEL_TYPES)}, got {model_type!r}")
        if output not in OUTPUTS:
            raise ValueError(f"`output` must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if initializer not in INITIALIZERS:
            raise ValueError(f"`initializer` must be one of {', '.join(INITIALIZERS)}, got {initializer!r}")
        if model_type != "autoencoder" and (not isinstance(future_frames, int) or future_frames <= 0):
            raise ValueError(f"`future_frames` must be a positive integer for model_type={model_type}, "
                             f"got {future_frames!r}")
        self.frame_dim = frame_dim
        self.units = [int(u) for u in units]
        self.input_frames = input_frames
        self.future_frames = future_frames
        self.model_type = model_type
        self.conditional_reconstruction = bool(conditional_reconstruction)
        self.conditional_future = bool(conditional_future)
        self.peepholes = bool(peepholes)
        self.output_kind = output
        self.initializer = initializer
        self.seed = seed
        if not isinstance(bottleneck, int) or bottleneck < 0:
            raise ValueError(f"`bottleneck` must be a non-negative integer, got {bottleneck!r}")
        self.bottleneck = bottleneck
        self.implementation = implementation

        def stack(name, k):
            return LSTMStack(self.units, peepholes, initializer, seed=None if seed is None else seed + 1000 * k,
                             implementation=implementation, name=name)

        def readout(name, k):
            init = ("glorot_uniform" if initializer == "keras" else
                    keras.initializers.RandomUniform(-0.01, 0.01, seed=None if seed is None else seed + 1000 * k))
            return keras.layers.Dense(frame_dim, kernel_initializer=init, name=name)

        self.encoder = stack("encoder", 0)
        self.reconstruction_decoder = stack("reconstruction_decoder", 1) if self.reconstructs else None
        self.reconstruction_readout = readout("reconstruction_readout", 2) if self.reconstructs else None
        self.future_decoder = stack("future_decoder", 3) if self.predicts else None
        self.future_readout = readout("future_readout", 4) if self.predicts else None
        if bottleneck:
            self.bottleneck_layer = keras.layers.Dense(bottleneck, "tanh", name="bottleneck")
            self.bottleneck_states = keras.layers.Dense(2 * sum(self.units), name="bottleneck_states")

    @property
    def reconstructs(self):
        return self.model_type in ("composite", "autoencoder")

    @property
    def predicts(self):
        return self.model_type in ("composite", "future")

    def build(self, input_shape):
        self.encoder.build((None, self.frame_dim))
        if self.bottleneck:
            self.bottleneck_layer.build((None, 2 * sum(self.units)))
            self.bottleneck_states.build((None, self.bottleneck))
        top = self.units[-1]
        if self.reconstructs:
            self.reconstruction_decoder.build((None, self.frame_dim if self.conditional_reconstruction else 0))
            self.reconstruction_readout.build((None, top))
        if self.predicts:
            self.future_decoder.build((None, self.frame_dim if self.conditional_future else 0))
            self.future_readout.build((None, top))

    def activate(self, logits):
        """Frames from logits: sigmoid for binary data, identity for real-valued data."""
        return ops.sigmoid(logits) if self.output_kind == "sigmoid" else logits

    def encoder_states(self, inputs):
        """The encoder's final (h, c) of every layer after reading `inputs` (B, T, D)."""
        _, states = self.encoder.run(inputs, self.encoder.zero_state(ops.shape(inputs)[0], inputs.dtype))
        return states

    def code(self, inputs, states=None):
        """The representation of `inputs`: the bottleneck code, or every layer's final h then c, concatenated
        (`states`: the encoder's, if already computed)."""
        states = self.encoder_states(inputs) if states is None else states
        flat = ops.concatenate([t for h, c in states for t in (h, c)], axis=-1)
        return self.bottleneck_layer(flat) if self.bottleneck else flat

    def encode(self, inputs):
        """The decoders' initial states: the encoder's final states, or those given by the bottleneck code."""
        if not self.bottleneck:
            return self.encoder_states(inputs)
        flat = self.bottleneck_states(self.code(inputs))
        parts, start = [], 0
        for units in self.units:
            parts.append((flat[:, start:start + units], flat[:, start + units:start + 2 * units]))
            start += 2 * units
        return parts

    def forward(self, inputs, futures=None, teacher_forcing=False, future_steps=None, truth_mask=None,
                sample_noise=None, feedback_gradient=True):
        """Logits of both decoders.

        Args:
          inputs: input frames (B, input_frames, frame_dim).
          futures: ground-truth future frames (B, K, frame_dim); needed only for a teacher-forced conditional
            future predictor or scheduled sampling.
          teacher_forcing: feed a conditional future predictor ground truth rather than its own output.
          future_steps: frames to predict (default `future_frames`, or K when teacher-forced or sampled).
          truth_mask: scheduled sampling (conditional future predictor): (B, K), 1 where step t reads the true
            frame t-1 and 0 where it reads its own output for it (column 0 is unused: step 0 reads a zero frame).
            All ones gives the teacher-forced outputs, all zeros the free-running ones.
          sample_noise: with `truth_mask`, feed a Bernoulli sample of the own output instead of its mean: uniform
            noise in [0, 1) of shape (B, K, frame_dim); the fed pixel is 1 where noise < the output probability.
          feedback_gradient: with `truth_mask`, let the gradient flow through the fed-back outputs.

        Returns:
          dict with `reconstruction` (B, input_frames, frame_dim) and/or `future` (B, steps, frame_dim) logits;
          reconstruction step t corresponds to input frame input_frames-1-t.
        """
        states = self.encode(inputs)
        out = {}
        if self.reconstructs:
            out["reconstruction"] = self._reconstruction_logits(inputs, states)
        if self.predicts:
            if truth_mask is not None:
                out["future"] = self._sampled_future_logits(states, futures, truth_mask, sample_noise,
                                                            feedback_gradient)
            else:
                out["future"] = self._future_logits(states, futures, teacher_forcing, future_steps)
        return out

    def _reconstruction_logits(self, inputs, states):
        targets = ops.flip(inputs, axis=1) if self.conditional_reconstruction else None
        return self._decode(self.reconstruction_decoder, self.reconstruction_readout, states, ops.shape(inputs)[1],
                            targets)

    def _future_logits(self, states, futures=None, teacher_forcing=False, steps=None):
        if self.conditional_future and teacher_forcing:
            if futures is None:
                raise ValueError("teacher forcing a conditional future predictor needs `futures`")
            return self._decode(self.future_decoder, self.future_readout, states, ops.shape(futures)[1], futures)
        steps = self.future_frames if steps is None else steps
        return self._decode(self.future_decoder, self.future_readout, states, steps, None,
                            feedback=self.conditional_future)

    def _sampled_future_logits(self, states, futures, truth_mask, sample_noise, feedback_gradient):
        if not self.conditional_future:
            raise ValueError("scheduled sampling (`truth_mask`) needs a conditional future predictor")
        if futures is None:
            raise ValueError("scheduled sampling (`truth_mask`) needs the true `futures`")
        if sample_noise is not None and self.output_kind != "sigmoid":
            raise ValueError("`sample_noise` (feeding Bernoulli samples) needs output='sigmoid'")
        steps = int(futures.shape[1])

        def choose(t, own):
            if sample_noise is not None:
                own = ops.cast(sample_noise[:, t] < own, own.dtype)
            elif not feedback_gradient:
                own = ops.stop_gradient(own)
            return ops.where(truth_mask[:, t + 1, None] > 0.5, futures[:, t], own)

        return self._decode(self.future_decoder, self.future_readout, states, steps, None, feedback=True,
                            choose=choose)

    def _decode(self, decoder, readout, states, steps, targets, feedback=False, choose=None):
        """Runs a decoder for `steps` (a Python int, or a scalar tensor: then a `keras.ops` loop) from `states`.

        With `targets`, it is conditional and teacher-forced (input: zero, then targets[:, :-1]); with `feedback`,
        it is conditional and free-running (input: zero, then its own previous output, or what
        `choose(t, own output at step t)` makes of it); otherwise it has no input.
        """
        if targets is not None:
            zero = ops.zeros_like(targets[:, :1])
            hidden, _ = decoder.run(ops.concatenate([zero, targets[:, :-1]], axis=1), states)
            return self._readout(readout, hidden)
        if ops.is_tensor(steps):
            return self._decode_loop(decoder, readout, states, steps, feedback)
        if not feedback:  # no input: the whole recurrence at once, and the readout as one product over all steps
            hidden, _ = decoder.run(None, states, int(steps))
            return self._readout(readout, hidden)
        batch = ops.shape(states[0][0])[0]
        frame = ops.zeros((batch, self.frame_dim), "float32")
        logits = []
        for t in range(int(steps)):
            h, states = decoder.step(frame, states)
            logits.append(self._readout(readout, h))
            if t + 1 < steps:
                frame = self.activate(logits[-1])
                if choose is not None:
                    frame = choose(t, frame)
        return ops.stack(logits, axis=1)

    @staticmethod
    def _readout(readout, hidden):
        """Logits from hidden states, float32 whatever the layer's compute dtype."""
        return ops.cast(readout(hidden), "float32")

    def _decode_loop(self, decoder, readout, states, steps, feedback):
        """`_decode` free-running for a tensor number of steps: one `keras.ops.scan` over `steps`, so the graph does
        not grow with the length and the cost grows linearly with it. (The TensorFlow backend's scan stacks outputs
        shaped like the carry, so the carry holds this step's logits and the stacked carries are the output.)"""
        batch = ops.shape(states[0][0])[0]
        logits = ops.zeros((batch, self.frame_dim), "float32")

        def body(carry, _):
            h, new_states = decoder.step(carry[2] if feedback else None, carry[0])
            new_logits = self._readout(readout, h)
            out = (new_states, new_logits, self.activate(new_logits)) if feedback else (new_states, new_logits)
            return out, out

        init = (states, logits, ops.zeros((batch, self.frame_dim), "float32")) if feedback else (states, logits)
        _, stacked = ops.scan(body, init, xs=ops.arange(steps))
        return ops.transpose(stacked[1], (1, 0, 2))

    def call(self, inputs, training=False):
        """Free-running outputs as frames: dict with `reconstruction` and/or `future`."""
        return {name: self.activate(logits) for name, logits in self.forward(inputs).items()}

    def reconstruction_logits(self, inputs):
        """Logits of the reconstruction, in reverse order (step t is input frame T-1-t)."""
        if not self.reconstructs:
            raise ValueError(f"model_type={self.model_type} has no reconstruction decoder")
        return self._reconstruction_logits(inputs, self.encode(inputs))

    def future_logits(self, inputs, steps=None):
        """Logits of the free-running prediction of the next `steps` frames (default `future_frames`; a scalar
        tensor runs a `keras.ops` loop, so one traced graph serves any length)."""
        if not self.predicts:
            raise ValueError(f"model_type={self.model_type} has no future predictor")
        return self._future_logits(self.encode(inputs), steps=steps)

    def reconstruct(self, inputs):
        """Reconstructed input frames, in reverse order (step t is input frame T-1-t)."""
        return self.activate(self.reconstruction_logits(inputs))

    def predict_future(self, inputs, steps=None):
        """Free-running prediction of the next `steps` frames (default `future_frames`)."""
        return self.activate(self.future_logits(inputs, steps))

    def get_config(self):
        config = super().get_config()
        config.update(frame_dim=self.frame_dim, units=self.units, input_frames=self.input_frames,
                      future_frames=self.future_frames, model_type=self.model_type,
                      conditional_reconstruction=self.conditional_reconstruction,
                      conditional_future=self.conditional_future, peepholes=self.peepholes,
                      output=self.output_kind, initializer=self.initializer, seed=self.seed,
                      bottleneck=self.bottleneck, implementation=self.implementation)
        return config


def from_settings(settings, seed=None):
    """The CompositeModel that the composite task's settings describe, built (weights created)."""
    model = CompositeModel(settings.frame_dim, settings.units, settings.input_frames, settings.future_frames,
                           settings.model, settings.conditional_reconstruction, settings.conditional_future,
                           settings.peepholes, settings.output, settings.initializer, seed=seed,
                           bottleneck=settings.bottleneck)
    model.build((None, settings.input_frames, settings.frame_dim))
    return model
