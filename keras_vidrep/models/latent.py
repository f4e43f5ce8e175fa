"""An LSTM that predicts the next latent code of a frozen frame VAE, and rolls out video closed-loop (keras.ops only).

Each frame x_t is encoded by the VAE to q(z_t | x_t) = N(mu_t, sigma_t^2). The LSTM reads code means and predicts the
next code as a Gaussian N(m_{t+1}, s_{t+1}^2). A rollout primes the LSTM on the means of K frames, then feeds back
its own predicted mean for M steps; the VAE's decoder turns each predicted mean into a frame.

Frames come in flattened, (N, T, H*W*C), like the composite model's, so both are evaluated by the same tools; the
model has the same prediction interface (`future_logits`, `activate`, `predicts`).
"""
import keras
from keras import layers, ops

from keras_vidrep.models.lstm import LSTMStack

LOSSES = ("mse", "kl")  # on the predicted mean; or KL(encoded || predicted Gaussian)
FEEDS = ("truth", "own")  # what the LSTM reads after the priming frames in training


def gaussian_kl(mean_q, log_variance_q, mean_p, log_variance_p):
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) summed over the last axis."""
    return 0.5 * ops.sum(log_variance_p - log_variance_q + (ops.exp(log_variance_q) + ops.square(mean_q - mean_p))
                         / ops.exp(log_variance_p) - 1.0, axis=-1)


@keras.saving.register_keras_serializable(package="keras_vidrep")
class LatentPredictor(keras.Model):
    """LSTM over the codes of a frozen `ConvVAE`.

    Args:
      vae: a built ConvVAE; its weights are frozen.
      units: LSTM state sizes, one per layer.
      input_frames: K, the priming frames.
      future_frames: M, the frames a rollout generates by default.
      loss: `mse` (squared error of the predicted mean, summed over the code) or `kl` (KL between the encoded
        and the predicted Gaussian).
      feed: `truth` (training reads the encoded mean of every frame: teacher forcing) or `own` (after the K
        priming frames it reads its own predicted mean, as a rollout does).
      seed: initializer seed.
    """

    def __init__(self, vae, units=(1024,), input_frames=10, future_frames=10, loss="mse", feed="truth", seed=None,
                 **kwargs):
        # Float32 in and out under any dtype policy; the layers inside follow the global policy
        # (see training.step.dtype_policy).
        super().__init__(**{"dtype": "float32", **kwargs})
        if loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {', '.join(LOSSES)}, got {loss!r}")
        if feed not in FEEDS:
            raise ValueError(f"`feed` must be one of {', '.join(FEEDS)}, got {feed!r}")
        for name, value in (("input_frames", input_frames), ("future_frames", future_frames)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        self.vae = vae
        self.vae.trainable = False
        self.units, self.input_frames, self.future_frames = [int(u) for u in units], input_frames, future_frames
        self.loss_kind, self.feed, self.seed = loss, feed, seed
        self.latent_dim = vae.latent_dim
        self.frame_dim = int(ops.prod(vae.frame_shape))
        self.output_kind = vae.output_kind
        self.lstm = LSTMStack(self.units, seed=seed, name="lstm")
        self.head = layers.Dense(2 * self.latent_dim, name="next_code",
                                 kernel_initializer=keras.initializers.GlorotUniform(seed))

    # The prediction interface shared with CompositeModel (the reconstruction is the VAE's, frame by frame).
    predicts, reconstructs, conditional_future = True, True, False

    def build(self, input_shape=None):
        self.lstm.build((None, self.latent_dim))
        self.head.build((None, self.units[-1]))
        self.built = True

    def activate(self, logits):
        return self.vae.activate(logits)

    def encode_frames(self, frames):
        """(mean, log-variance) (N, T, z) of flattened frames (N, T, frame_dim)."""
        n, t = ops.shape(frames)[0], ops.shape(frames)[1]
        mean, log_variance = self.vae.encode(ops.reshape(frames, (-1, *self.vae.frame_shape)))
        return ops.reshape(mean, (n, t, self.latent_dim)), ops.reshape(log_variance, (n, t, self.latent_dim))

    def decode_logits(self, codes):
        """Flattened decoder outputs (N, T, frame_dim) of codes (N, T, z)."""
        n, t = ops.shape(codes)[0], ops.shape(codes)[1]
        logits = self.vae.decode_logits(ops.reshape(codes, (-1, self.latent_dim)))
        return ops.reshape(logits, (n, t, self.frame_dim))

    def _split(self, out):
        out = ops.cast(out, "float32")  # whatever the head's compute dtype
        return out[..., :self.latent_dim], out[..., self.latent_dim:]

    def predict_codes(self, codes, steps=0):
        """Teacher-forced then free-running predictions.

        Args:
          codes: (N, T, z) code means the LSTM reads in turn.
          steps: after reading them, feed back the predicted mean for this many more steps.

        Returns:
          (mean, log-variance) (N, T + steps, z): the prediction after each step, i.e. of codes 1 .. T + steps.
        """
        hidden, states = self.lstm.run(codes, self.lstm.zero_state(ops.shape(codes)[0], codes.dtype))
        outputs = [self.head(hidden)]
        if steps:
            mean = self._split(outputs[0][:, -1])[0]
            for _ in range(steps):
                h, states = self.lstm.step(mean, states)
                out = self.head(h)
                outputs.append(out[:, None])
                mean = self._split(out)[0]
        return self._split(ops.concatenate(outputs, axis=1))

    def rollout_codes(self, prime, steps):
        """Predicted code means (N, steps, z) after priming on `prime` (N, K, z); `steps` an int, or a scalar tensor
        (one `keras.ops.scan` loop serves any length)."""
        if isinstance(steps, int):
            return self.predict_codes(prime, steps - 1)[0][:, -steps:]
        hidden, states = self.lstm.run(prime, self.lstm.zero_state(ops.shape(prime)[0], prime.dtype))
        first = self._split(self.head(hidden[:, -1]))[0]

        def body(carry, _):
            states, mean = carry
            h, new_states = self.lstm.step(mean, states)
            new = (new_states, self._split(self.head(h))[0])
            return new, new

        _, (_, means) = ops.scan(body, (states, first), xs=ops.arange(steps - 1))
        return ops.concatenate([first[:, None], ops.transpose(means, (1, 0, 2))], axis=1)

    def training_losses(self, frames):
        """Per-example code loss (N,) on sequences (N, T, frame_dim): each code 1 .. T-1 predicted from those
        before it (with `feed`=own, codes after the K-th from the model's own predictions)."""
        return self.code_losses(*self.encode_frames(frames))

    def code_losses(self, mean, log_variance):
        """`training_losses` of sequences already encoded: code means and log-variances (N, T, z)."""
        if self.feed == "truth":
            pred_mean, pred_log_variance = self.predict_codes(mean[:, :-1])
        else:
            steps = mean.shape[1] - 1 - self.input_frames
            pred_mean, pred_log_variance = self.predict_codes(mean[:, :self.input_frames], steps)
        target_mean, target_log_variance = mean[:, 1:], log_variance[:, 1:]
        if self.loss_kind == "mse":
            per_step = ops.sum(ops.square(pred_mean - target_mean), axis=-1)
        else:
            per_step = gaussian_kl(target_mean, target_log_variance, pred_mean, pred_log_variance)
        return ops.mean(per_step, axis=-1)

    def future_logits(self, inputs, steps=None):
        """Decoder outputs (N, steps, frame_dim) of a rollout of `steps` frames (default `future_frames`) after the
        flattened priming frames `inputs` (N, K, frame_dim)."""
        prime, _ = self.encode_frames(inputs)
        return self.decode_logits(self.rollout_codes(prime, self.future_frames if steps is None else steps))

    def reconstruction_logits(self, inputs):
        """The VAE's reconstruction of flattened frames (N, T, frame_dim) from their code means, in reverse order
        (step t is frame T-1-t), as `CompositeModel.reconstruction_logits` gives it."""
        return ops.flip(self.decode_logits(self.encode_frames(inputs)[0]), axis=1)

    def call(self, inputs, training=False):
        return {"future": self.activate(self.future_logits(inputs))}

    def get_config(self):
        return {**super().get_config(), "units": self.units, "input_frames": self.input_frames,
                "future_frames": self.future_frames, "loss": self.loss_kind, "feed": self.feed, "seed": self.seed}
