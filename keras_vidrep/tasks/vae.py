"""A convolutional VAE of single video frames, regularised by KL (a VAE) or by MMD (an InfoVAE / MMD-VAE).

Data: frames of Bouncing MNIST generated on the fly (grey), or of a frames file (`vidrep-preprocess --kind=frames`),
whose last videos are held out for validation. A training example is one frame; the batch carries the
reparameterisation noise, the step (for the KL warm-up) and, for MMD, the prior samples, all drawn from (seed,
step) for the whole global batch, so a step is the same on any number of replicas. The MMD compares the codes of
the whole global batch with the prior (gathered across replicas, see `Task.all_examples`).

Validation, like training, decodes a sampled code z = mean + sigma * noise (the noise fixed per validation frame):
the reconstruction loss per frame, the KL per frame, the MMD between the sampled validation codes and prior samples,
and `total`, the objective the run optimises (the negative ELBO in nats for a KL-VAE with beta = 1 and a sigmoid
decoder; with a linear decoder the reconstruction is 0.5 * squared error, a Gaussian's negative log-likelihood
without its constant 0.5 * D * ln(2 pi), and is labelled so). `reconstruction_at_mean` decodes the code means, as the
pictures and embeddings do. The baseline predicts the mean training frame.
"""
import dataclasses
import math

import numpy as np
from keras import ops

from keras_vidrep import pictures
from keras_vidrep.data import frame_sets
from keras_vidrep.data.streams import spread
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import losses, vae
from keras_vidrep.settings import check_choices, check_positive, setting
from keras_vidrep.tasks import accumulate, base, baselines, representations, signatures

SHOWN = 10  # validation frames in the reconstruction picture
SAMPLES = 20  # prior samples in the samples picture
VALIDATION_PRIOR = 1000  # prior samples the validation MMD compares with
NOISE_STREAM, PRIOR_STREAM, VALIDATION_NOISE_STREAM = 0x4E4F, 0x5052, 0x564E


@dataclasses.dataclass
class Settings(frame_sets.FrameData):
    """Settings of the vae task (and the frame data's, see `FrameData`); field names are the flag names."""

    val_frames: int = setting(512, "Validation frames.")
    latent_dim: int = setting(32, "Size of the latent code z.")
    filters: tuple[int, ...] = setting((32, 64, 128), "Channels of the encoder's stride-2 convolutions, comma "
                                                      "separated (the decoder mirrors them).")
    kernel_size: int = setting(4, "Convolution kernel size.")
    hidden: int = setting(0, "Units of a dense layer between the convolutions and the code (0: none).")
    output: str = setting("sigmoid", "sigmoid + Bernoulli cross-entropy (binary frames), or linear + 0.5*squared "
                                     "error (a Gaussian; natural video).", vae.OUTPUTS)
    regularizer: str = setting("kl", "kl: KL to N(0, I) (a VAE); mmd: maximum mean discrepancy to N(0, I) "
                                     "(InfoVAE / MMD-VAE).", vae.REGULARIZERS)
    beta: float = setting(1.0, "regularizer=kl: weight of the KL term.")
    kl_warmup_steps: int = setting(0, "regularizer=kl: steps over which the KL weight grows linearly from 0 to "
                                      "beta (0: none).")
    mmd_weight: float = setting(1.0, "regularizer=mmd: weight of the MMD term.")
    mmd_bandwidth: float = setting(0.0, "regularizer=mmd: kernel bandwidth in exp(-|x-y|^2 / (dim * bandwidth)); "
                                        "0 means the latent size (InfoVAE's kernel).")
    mmd_prior_samples: int = setting(200, "regularizer=mmd: prior samples per step.")

    ARCHITECTURE_KEYS = ("frame_shape", "latent_dim", "filters", "kernel_size", "hidden", "output", "regularizer")

    def validate(self):
        self.validate_data()
        check_positive(self, ("val_frames", "latent_dim", "kernel_size", "mmd_prior_samples"))
        check_choices(self)
        if not self.filters or min(self.filters) <= 0:
            raise ConfigError(f"`filters` must be positive integers, got {','.join(map(str, self.filters))!r}")
        factor = 2 ** len(self.filters)
        if self.size % factor:
            raise ConfigError(f"the frame size {self.size} must be divisible by 2 ** len(`filters`) = {factor}")
        if self.hidden < 0 or self.kl_warmup_steps < 0:
            raise ConfigError(f"`hidden` and `kl_warmup_steps` must be >= 0, got {self.hidden}, "
                              f"{self.kl_warmup_steps}")
        for name in ("beta", "mmd_weight", "mmd_bandwidth"):
            if getattr(self, name) < 0:
                raise ConfigError(f"`{name}` must be >= 0, got {getattr(self, name)}")


def build_vae(settings, seed=None):
    """The ConvVAE the settings describe, built."""
    model = vae.ConvVAE(settings.image_shape, settings.latent_dim, settings.filters, settings.kernel_size,
                        settings.hidden, settings.output, settings.regularizer, settings.beta, settings.kl_warmup_steps,
                        settings.mmd_weight, settings.mmd_bandwidth or None, settings.mmd_prior_samples, seed=seed)
    model.build()
    return model


def frame_losses(output, images, logits):
    """Reconstruction loss of each frame (N,), summed over its pixels."""
    loss = losses.frame_loss(output, per_frame=True)
    flat = ops.shape(images)[0]
    return loss(ops.reshape(images, (flat, -1)), ops.reshape(logits, (flat, -1)))


class Task(base.Task):
    """Trains a `ConvVAE` on frames."""

    name = "vae"
    Settings = Settings
    best_metric, best_mode = "total", "min"

    def prepare_data(self):
        self.source = frame_sets.FrameSource(self.settings, self.config.seed)
        self.frame_set = self.source.validation_set(self.settings.val_frames)

    @property
    def prior_per_example(self):
        """Prior samples each example carries: the global batch carries at least `mmd_prior_samples`."""
        return math.ceil(self.settings.mmd_prior_samples / self.config.batch_size)

    def train_signature(self, batch_size):
        s = self.settings
        signature = [((batch_size, *s.image_shape), "float32"), ((batch_size, s.latent_dim), "float32"),
                     ((batch_size,), "float32")]
        if s.regularizer == "mmd":
            signature.append(((batch_size, self.prior_per_example, s.latent_dim), "float32"))
        return signature

    def train_batch(self, step, global_batch_size, start, count):
        s = self.settings
        images = self.source.batch(step, global_batch_size, start, count)
        rng = np.random.default_rng([self.config.seed, NOISE_STREAM, step])
        noise = rng.standard_normal((global_batch_size, s.latent_dim), np.float32)[start:start + count]
        batch = (images, noise, np.full(count, step, np.float32))
        if s.regularizer == "mmd":
            rng = np.random.default_rng([self.config.seed, PRIOR_STREAM, step])
            prior = rng.standard_normal((global_batch_size, self.prior_per_example, s.latent_dim), np.float32)
            batch += (prior[start:start + count],)
        return batch

    def train_scalars(self, step):
        s = self.settings
        if s.regularizer == "kl" and s.kl_warmup_steps:
            return {"kl_weight": s.beta * min(1.0, step / s.kl_warmup_steps)}
        return {}

    def validation_set(self):
        """(frames, their reparameterisation noise), read batch by batch: the same sampled codes at every
        validation."""
        rng = np.random.default_rng([self.config.seed, VALIDATION_NOISE_STREAM])
        noise = rng.standard_normal((len(self.frame_set), self.settings.latent_dim), np.float32)
        return ValidationSet(lambda ids: (self.frame_set.take(ids), noise[ids]), len(self.frame_set))

    def build_model(self):
        return build_vae(self.settings, self.config.seed)

    def train_losses(self, model, batch):
        images, noise, step = batch[:3]
        prior = None
        if self.settings.regularizer == "mmd":  # the global batch's prior samples, the first mmd_prior_samples
            prior = ops.reshape(self.all_examples(batch[3]), (-1, self.settings.latent_dim))
            prior = prior[:self.settings.mmd_prior_samples]
        out = model(images, noise=noise, step=step, prior=prior, all_codes=self.all_examples, training=True)
        return {"reconstruction": frame_losses(model.output_kind, images, out["logits"])}

    def validation_losses(self, model, batch):
        images, noise = batch
        mean, log_variance = model.encode(images)
        codes = mean + ops.exp(0.5 * log_variance) * noise
        return {"reconstruction": frame_losses(model.output_kind, images, model.decode_logits(codes)),
                "reconstruction_at_mean": frame_losses(model.output_kind, images, model.decode_logits(mean)),
                "kl": vae.kl_divergence(mean, log_variance), "codes": codes}

    def validation_summary(self):
        return accumulate.MeanSummary(keep=("codes",))  # the MMD compares all `val_frames` codes with the prior at once

    def summarize_validation(self, summary):
        s = self.settings
        codes = summary.gathered("codes")
        out = summary.result()
        prior = np.random.default_rng([self.config.seed, PRIOR_STREAM]).standard_normal(
            (VALIDATION_PRIOR, s.latent_dim)).astype(np.float32)
        out["mmd"] = float(vae.maximum_mean_discrepancy(codes, prior, s.mmd_bandwidth or float(s.latent_dim)))
        regularizer = s.beta * out["kl"] if s.regularizer == "kl" else s.mmd_weight * out["mmd"]
        out["total"] = out["reconstruction"] + regularizer
        return out

    def mean_training_frame(self):
        source = getattr(self, "source", None) or frame_sets.FrameSource(self.settings, self.config.seed)
        return source.batch(0, 512, 0, 512).astype(np.float64).mean(axis=0)

    def baselines(self):
        mean, loss = self.mean_training_frame().astype(np.float32), baselines.loss_of(self.settings.output)
        summary = accumulate.MeanSummary()
        for (images, _) in self.validation_set().batches(256):
            summary.add({"baseline/mean_training_frame": loss(
                images.reshape(len(images), -1), np.broadcast_to(mean.reshape(-1), (len(images), mean.size)))})
        return summary.result()

    def pictures(self, model):
        shown = self.frame_set.take(spread(np.arange(len(self.frame_set)), SHOWN))
        recon = ops.convert_to_numpy(model.decode(model.encode(shown)[0]))
        samples = ops.convert_to_numpy(model.sample(SAMPLES, self.config.seed)[0])
        return [base.Picture("reconstructions", "images", [frame_grid([("data", shown), ("model", recon)],
                                                                      "validation frames")],
                             "Held-out frames, evenly spread over the validation set (top), and their reconstructions "
                             "from the code means (bottom)."),
                base.Picture("samples", "images", [frame_grid([("z ~ N(0, I)", samples)], "decoded prior samples")],
                             "Frames decoded from codes drawn from the prior N(0, I).")]

    def representations(self):
        return list(representations.VAE)

    def represent(self, model, sequences, name):
        return representations.vae(model, sequences, name)

    def frame_vae(self, model):
        return model

    def own_video_input(self):
        """A frame VAE reads single frames, cut as its training frames were (`frame_sets.frame_video_input`)."""
        return frame_sets.frame_video_input(self.settings, frames=1)

    def export_endpoints(self, model):
        return signatures.vae_endpoints(model, self.settings.frame_shape)

    def describe(self, model):
        s = self.settings
        return f"{s.regularizer.upper()}-VAE (z={s.latent_dim}) on {s.data} frames {s.image_shape}"


def frame_grid(rows, header, per_row=10):
    """A labelled picture of rows of frames (N, H, W[, 1|3]) (see `pictures.labelled_grid`)."""
    rows = [(label, [f[..., 0] if f.shape[-1] == 1 else f for f in np.asarray(frames)]) for label, frames in rows]
    return pictures.labelled_grid(rows, [(header, 0, len(rows[0][1]))], per_row)
