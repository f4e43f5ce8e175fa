"""A convolutional variational autoencoder of single frames, and its two regularisers as `add_loss` layers
(keras.ops only).

  * `ConvVAE`: frames (N, H, W, C) in [0, 1] → a diagonal Gaussian q(z|x) (mean, log-variance) → frames again. The
    encoder is a stack of strided convolutions (each halves the size), an optional dense layer and two heads; the
    decoder mirrors it with transposed convolutions. Bernoulli output (`sigmoid`, cross-entropy from logits) or
    Gaussian output (`linear`, 0.5 * squared error), both summed over the pixels of a frame.
  * `KLDivergence`: the analytic KL(q(z|x) || N(0, I)), weight beta, optional linear warm-up.
  * `MaximumMeanDiscrepancy`: the biased MMD estimate between the batch's codes and samples of N(0, I) with the
    Gaussian kernel exp(-|x - y|^2 / (dim * bandwidth)) (InfoVAE's, whose bandwidth is the latent size).

Randomness comes in from outside: training passes the reparameterisation noise and the prior samples with the
batch, drawn from (seed, step), so that a step does not depend on the number of replicas it is split over.
Without noise the code is the mean (validation, embeddings). `sample` draws from a seed given at call time.
"""
import math

import keras
from keras import layers, ops

OUTPUTS = ("sigmoid", "linear")  # Bernoulli or Gaussian reconstruction term
REGULARIZERS = ("kl", "mmd")


def kl_divergence(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)) of each example, summed over the latent units: (N, z) → (N,)."""
    return 0.5 * ops.sum(ops.exp(log_variance) + ops.square(mean) - 1.0 - log_variance, axis=-1)


def gaussian_kernel(x, y, bandwidth):
    """exp(-|x_i - y_j|^2 / (dim * bandwidth)) for every pair of rows: (n, d), (m, d) → (n, m)."""
    dim = ops.shape(x)[-1]
    distances = ops.sum(ops.square(ops.expand_dims(x, 1) - ops.expand_dims(y, 0)), axis=-1)
    return ops.exp(-distances / (ops.cast(dim, x.dtype) * bandwidth))


def maximum_mean_discrepancy(x, y, bandwidth):
    """The biased estimate (diagonal terms included) of MMD^2 between the samples `x` (n, d) and `y` (m, d)."""
    return (ops.mean(gaussian_kernel(x, x, bandwidth)) + ops.mean(gaussian_kernel(y, y, bandwidth))
            - 2.0 * ops.mean(gaussian_kernel(x, y, bandwidth)))


def _check_positive(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"`{name}` must be a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")


@keras.saving.register_keras_serializable(package="keras_vidrep")
class KLDivergence(layers.Layer):
    """Adds weight * warm-up(step) * mean over the batch of KL(q || N(0, I)) to the model's losses.

    Args:
      weight: beta.
      warmup_steps: the weight grows linearly from 0 at step 0 to `weight` at this step (0: no warm-up).

    Call arguments: `mean`, `log_variance` (N, z) and optionally `step` (the global step, a scalar or one value
    per example; None: full weight). Returns the unweighted KL of each example (N,).
    """

    def __init__(self, weight=1.0, warmup_steps=0, **kwargs):
        super().__init__(**kwargs)
        _check_positive("weight", weight, allow_zero=True)
        _check_positive("warmup_steps", warmup_steps, allow_zero=True)
        self.weight, self.warmup_steps = float(weight), int(warmup_steps)

    def scale(self, step):
        """The weight at `step`."""
        if not self.warmup_steps:
            return self.weight
        return self.weight * ops.minimum(ops.cast(step, "float32") / self.warmup_steps, 1.0)

    def call(self, mean, log_variance, step=None):
        kl = kl_divergence(mean, log_variance)
        weight = self.weight if step is None else self.scale(step)
        self.add_loss(ops.mean(kl * weight))
        return kl

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "warmup_steps": self.warmup_steps}


@keras.saving.register_keras_serializable(package="keras_vidrep")
class MaximumMeanDiscrepancy(layers.Layer):
    """Adds weight * MMD^2(codes, prior samples) to the model's losses (see `maximum_mean_discrepancy`).

    Args:
      weight: the loss weight (1 in InfoVAE).
      bandwidth: the kernel's bandwidth; None means the latent size (InfoVAE's kernel).
      prior_samples: samples of N(0, I) drawn per call when none are given.
      seed: seed of those draws.

    Call arguments: `codes` (N, z) and optionally `prior` (M, z) samples of N(0, I). Returns the MMD^2 (scalar).
    """

    def __init__(self, weight=1.0, bandwidth=None, prior_samples=200, seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_positive("weight", weight, allow_zero=True)
        if bandwidth is not None:
            _check_positive("bandwidth", bandwidth)
        if not isinstance(prior_samples, int) or prior_samples <= 0:
            raise ValueError(f"`prior_samples` must be a positive integer, got {prior_samples!r}")
        self.weight, self.bandwidth, self.prior_samples, self.seed = float(weight), bandwidth, prior_samples, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, codes, prior=None):
        if prior is None:
            prior = keras.random.normal((self.prior_samples, ops.shape(codes)[-1]), seed=self.seed_generator)
        bandwidth = self.bandwidth or codes.shape[-1]
        mmd = maximum_mean_discrepancy(codes, ops.cast(prior, codes.dtype), float(bandwidth))
        self.add_loss(self.weight * mmd)
        return mmd

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "bandwidth": self.bandwidth,
                "prior_samples": self.prior_samples, "seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_vidrep")
class ConvVAE(keras.Model):
    """Convolutional VAE of (H, W, C) frames in [0, 1].

    Args:
      frame_shape: (H, W, C); H and W divisible by 2 ** len(filters).
      latent_dim: size of the code z.
      filters: channels of the encoder's stride-2 convolutions (the decoder uses them in reverse).
      kernel_size: convolution kernel size.
      hidden: units of a dense layer between the convolutions and the code (0: none), mirrored in the decoder.
      output: `sigmoid` (Bernoulli) or `linear` (Gaussian, squared error).
      regularizer: `kl` (KLDivergence) or `mmd` (MaximumMeanDiscrepancy).
      beta, kl_warmup_steps: KLDivergence's weight and warm-up.
      mmd_weight, mmd_bandwidth, mmd_prior_samples: MaximumMeanDiscrepancy's arguments.
      seed: initializer seed.
    """

    def __init__(self, frame_shape=(64, 64, 1), latent_dim=32, filters=(32, 64, 128), kernel_size=4, hidden=0,
                 output="sigmoid", regularizer="kl", beta=1.0, kl_warmup_steps=0, mmd_weight=1.0,
                 mmd_bandwidth=None, mmd_prior_samples=200, seed=None, **kwargs):
        # Float32 in and out under any dtype policy; the layers inside follow the global policy
        # (see training.step.dtype_policy).
        super().__init__(**{"dtype": "float32", **kwargs})
        frame_shape, filters = tuple(int(d) for d in frame_shape), tuple(int(f) for f in filters)
        if len(frame_shape) != 3 or min(frame_shape) <= 0:
            raise ValueError(f"`frame_shape` must be (height, width, channels), got {frame_shape!r}")
        if not filters or min(filters) <= 0:
            raise ValueError(f"`filters` must be positive integers, got {filters!r}")
        factor = 2 ** len(filters)
        if frame_shape[0] % factor or frame_shape[1] % factor:
            raise ValueError(f"`frame_shape` {frame_shape[:2]} must be divisible by 2 ** len(filters) = {factor}")
        for name, value in (("latent_dim", latent_dim), ("kernel_size", kernel_size)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if not isinstance(hidden, int) or hidden < 0:
            raise ValueError(f"`hidden` must be a non-negative integer, got {hidden!r}")
        if output not in OUTPUTS:
            raise ValueError(f"`output` must be one of {', '.join(OUTPUTS)}, got {output!r}")
        if regularizer not in REGULARIZERS:
            raise ValueError(f"`regularizer` must be one of {', '.join(REGULARIZERS)}, got {regularizer!r}")
        self.frame_shape, self.latent_dim, self.filters = frame_shape, latent_dim, filters
        self.kernel_size, self.hidden, self.output_kind, self.regularizer = kernel_size, hidden, output, regularizer
        self.beta, self.kl_warmup_steps = beta, kl_warmup_steps
        self.mmd_weight, self.mmd_bandwidth, self.mmd_prior_samples, self.seed = (mmd_weight, mmd_bandwidth,
                                                                                 mmd_prior_samples, seed)

        def init(k):
            return keras.initializers.GlorotUniform(None if seed is None else seed + k)

        conv = dict(kernel_size=kernel_size, strides=2, padding="same")
        encoder = [layers.Conv2D(f, activation="relu", kernel_initializer=init(i), name=f"conv_{i}", **conv)
                   for i, f in enumerate(filters)]
        encoder.append(layers.Flatten(name="flatten"))
        if hidden:
            encoder.append(layers.Dense(hidden, "relu", kernel_initializer=init(10), name="encoder_dense"))
        self.mean_head = layers.Dense(latent_dim, kernel_initializer=init(11), name="mean")
        self.log_variance_head = layers.Dense(latent_dim, kernel_initializer=init(12), name="log_variance")
        small = (frame_shape[0] // factor, frame_shape[1] // factor, filters[-1])
        decoder = [layers.Dense(hidden, "relu", kernel_initializer=init(20), name="decoder_dense")] if hidden else []
        decoder += [layers.Dense(math.prod(small), "relu", kernel_initializer=init(21), name="project"),
                    layers.Reshape(small, name="unflatten")]
        for i, f in enumerate(reversed(filters[:-1])):
            decoder.append(layers.Conv2DTranspose(f, activation="relu", kernel_initializer=init(30 + i),
                                                  name=f"deconv_{i}", **conv))
        decoder.append(layers.Conv2DTranspose(frame_shape[2], kernel_initializer=init(40), name="frames", **conv))
        # One attribute per layer (not a list), so that tf.train.Checkpoint tracks every layer's weights.
        self._encoder_names = [f"encoder_{layer.name}" for layer in encoder]
        self._decoder_names = [f"decoder_{layer.name}" for layer in decoder]
        for name, layer in zip(self._encoder_names + self._decoder_names, encoder + decoder):
            setattr(self, name, layer)
        # The loss layers compute in float32 under any dtype policy.
        if regularizer == "kl":
            self.regularizer_layer = KLDivergence(beta, kl_warmup_steps, name="kl", dtype="float32")
        else:
            self.regularizer_layer = MaximumMeanDiscrepancy(mmd_weight, mmd_bandwidth, mmd_prior_samples, seed,
                                                            name="mmd", dtype="float32")
        self.sample_seeds = keras.random.SeedGenerator(seed or 0, name="sample_seeds")

    @property
    def encoder_layers(self):
        return [getattr(self, name) for name in self._encoder_names]

    @property
    def decoder_layers(self):
        return [getattr(self, name) for name in self._decoder_names]

    def build(self, input_shape=None):
        images = ops.zeros((1, *self.frame_shape))
        mean, _ = self.encode(images)
        self.decode_logits(mean)
        self.built = True

    def activate(self, logits):
        """Frames from decoder outputs: sigmoid probabilities, or the linear output itself."""
        return ops.sigmoid(logits) if self.output_kind == "sigmoid" else logits

    def encode(self, images):
        """(mean, log-variance) of q(z | x) for frames (N, H, W, C)."""
        x = images
        for layer in self.encoder_layers:
            x = layer(x)
        return ops.cast(self.mean_head(x), "float32"), ops.cast(self.log_variance_head(x), "float32")

    def decode_logits(self, codes):
        """Decoder outputs (logits for `sigmoid`) of codes (N, z): (N, H, W, C)."""
        x = codes
        for layer in self.decoder_layers:
            x = layer(x)
        return ops.cast(x, "float32")  # float32 whatever the layers' compute dtype

    def decode(self, codes):
        """Frames of codes (N, z)."""
        return self.activate(self.decode_logits(codes))

    def regularize(self, mean, log_variance, codes, step=None, prior=None):
        """Calls the regularizer layer (which adds its loss); returns its value (per example for KL)."""
        if self.regularizer == "kl":
            return self.regularizer_layer(mean, log_variance, step=step)
        return self.regularizer_layer(codes, prior)

    def call(self, images, noise=None, step=None, prior=None, all_codes=None, training=False):
        """Encodes, regularises and decodes `images`.

        Args:
          noise: (N, z) standard normal noise for the reparameterisation z = mean + exp(log_var / 2) * noise;
            None uses the mean.
          step: the global step, for the KL warm-up.
          prior: (M, z) prior samples for the MMD.
          all_codes: a function from this batch's codes to the codes of the whole global batch (under a
            distribution strategy), so the MMD compares the global batch with the prior; default the identity.

        Returns:
          dict: `mean`, `log_variance`, `codes`, `logits` (decoder outputs) and `regularizer` (KL per example, or
          the MMD).
        """
        mean, log_variance = self.encode(images)
        codes = mean if noise is None else mean + ops.exp(0.5 * log_variance) * noise
        batch_codes = all_codes(codes) if all_codes is not None else codes
        value = self.regularize(mean, log_variance, batch_codes, step, prior)
        return {"mean": mean, "log_variance": log_variance, "codes": codes, "logits": self.decode_logits(codes),
                "regularizer": value}

    def sample(self, count, seed):
        """Frames and codes of `count` draws from the prior, from an integer `seed` (same seed, same samples)."""
        seed = ops.convert_to_tensor(seed)
        self.sample_seeds.state.assign(ops.cast(ops.stack([seed, ops.zeros_like(seed)]),
                                                self.sample_seeds.state.dtype))
        codes = keras.random.normal(ops.stack([ops.cast(count, "int32"), self.latent_dim]), seed=self.sample_seeds)
        return self.decode(codes), codes

    def get_config(self):
        return {**super().get_config(), "frame_shape": self.frame_shape, "latent_dim": self.latent_dim,
                "filters": self.filters, "kernel_size": self.kernel_size, "hidden": self.hidden,
                "output": self.output_kind, "regularizer": self.regularizer, "beta": self.beta,
                "kl_warmup_steps": self.kl_warmup_steps, "mmd_weight": self.mmd_weight,
                "mmd_bandwidth": self.mmd_bandwidth, "mmd_prior_samples": self.mmd_prior_samples, "seed": self.seed}
