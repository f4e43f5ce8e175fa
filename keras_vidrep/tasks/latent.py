"""Video prediction in a VAE's latent space: an LSTM over the codes of a trained, frozen frame VAE (task `vae`).

The VAE comes from its model directory (`vae_dir`): its config.json gives the architecture, its latest checkpoint
the weights, which a new run loads once (and then keeps in its own checkpoints). Data: sequences of K + M frames,
generated Bouncing MNIST or windows of a frames file taken every `frame_skip`-th frame inside one video.

Validation: the code loss the run optimises, and free-running rollouts — prime on K frames, generate M — scored
like the composite model's future prediction (`future`, per frame), beside `vae_floor`, the loss of decoding the
true future frames' own codes (no predictor can beat its decoder), and the mean-frame and copy-last baselines.
"""
import dataclasses
import functools

import numpy as np
from keras import ops

from keras_vidrep import pictures, tasks
from keras_vidrep.data import frame_sets, video_sequences
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import latent, losses
from keras_vidrep.runs import checkpoints
from keras_vidrep.runs.directory import CONFIG_FILE, RunDir
from keras_vidrep.settings import check_choices, check_positive, setting
from keras_vidrep.tasks import base, baselines, representations
from keras_vidrep.tasks.signatures import vae_endpoints
from keras_vidrep.tasks.vae import build_vae

IMAGE_SEQUENCES = 4


@functools.lru_cache(maxsize=8)
def trained_vae(vae_dir):
    """(Settings, seed) of the VAE run in `vae_dir` (ConfigError if it is not one)."""
    if not vae_dir:
        raise ConfigError("`vae_dir` is required: the model directory of a trained frame VAE (vidrep-train "
                          "--task=vae)")
    run_dir = RunDir(vae_dir, "vae_dir")
    if not run_dir.has_config():
        raise ConfigError(f"`vae_dir` {vae_dir!r} holds no {CONFIG_FILE}: not a model directory of vidrep-train")
    task = run_dir.read_config()["task"]
    if task != "vae":
        raise ConfigError(f"`vae_dir` {vae_dir!r} holds a model of task {task!r}, not a frame VAE")
    return tasks.trained_settings(run_dir, "vae")


@dataclasses.dataclass
class Settings(frame_sets.FrameData):
    """Settings of the latent task (and the frame data's, see `FrameData`); field names are the flag names."""

    vae_dir: str = setting("", "Model directory of the trained frame VAE (task vae) whose codes are predicted.")
    input_frames: int = setting(10, "K: frames the LSTM is primed on.")
    future_frames: int = setting(10, "M: frames a rollout generates (in training and validation).")
    frame_skip: int = setting(1, "data=frames: take every N-th frame of a video (a film sampled every 3rd frame: "
                                 "3).")
    val_sequences: int = setting(256, "Validation sequences.")
    units: tuple[int, ...] = setting((1024,), "LSTM units per layer, comma separated.")
    loss: str = setting("mse", "mse: squared error of the predicted code mean; kl: KL between the encoded and the "
                               "predicted Gaussian.", latent.LOSSES)
    feed: str = setting("own", "What the LSTM reads after the K priming frames in training: its own predicted "
                               "mean (as in a rollout), or the true code (teacher forcing).", latent.FEEDS)

    ARCHITECTURE_KEYS = ("frame_shape", "latent_dim", "units")

    @property
    def vae_settings(self):
        """The trained VAE's Settings."""
        return trained_vae(self.vae_dir)[0]

    @property
    def latent_dim(self):
        return self.vae_settings.latent_dim

    @property
    def output(self):
        """The VAE decoder's output kind (sigmoid or linear), which fixes the frame loss."""
        return self.vae_settings.output

    def validate(self):
        self.validate_data()
        check_positive(self, ("input_frames", "future_frames", "frame_skip", "val_sequences"))
        check_choices(self)
        if not self.units or min(self.units) <= 0:
            raise ConfigError(f"`units` must be positive integers, got {','.join(map(str, self.units))!r}")
        if self.data == "bouncing_mnist" and self.input_frames + self.future_frames > self.seq_length:
            raise ConfigError(f"`input_frames` + `future_frames` ({self.input_frames} + {self.future_frames}) must "
                              f"not exceed `seq_length` ({self.seq_length})")
        theirs = tuple(self.vae_settings.frame_shape)
        if theirs != tuple(self.frame_shape):
            raise ConfigError(f"`vae_dir` {self.vae_dir!r} holds a VAE of frames {theirs}, but the data settings "
                              f"give frames {tuple(self.frame_shape)}: use the VAE's data settings")


class Task(base.SequenceBaselines, base.Task):
    """Trains a `LatentPredictor` over a frozen VAE."""

    name = "latent"
    Settings = Settings
    predicts_video = True
    progress_key = "code"
    best_metric, best_mode = "future", "min"

    @property
    def length(self):
        return self.settings.input_frames + self.settings.future_frames

    def prepare_data(self):
        s = self.settings
        self.source = frame_sets.SequenceSource(s, self.config.seed, self.length, s.frame_skip)
        self.sequence_set = self.source.validation_set(s.val_sequences)

    def train_signature(self, batch_size):
        return [((batch_size, self.length, int(np.prod(self.settings.frame_shape))), "float32")]

    def train_batch(self, step, global_batch_size, start, count):
        return (video_sequences.flatten(self.source.batch(step, global_batch_size, start, count)),)

    def validation_set(self):
        return self.sequence_set.map(lambda batch: (video_sequences.flatten(batch),))

    def build_model(self):
        s = self.settings
        vae = build_vae(*trained_vae(s.vae_dir))
        model = latent.LatentPredictor(vae, s.units, s.input_frames, s.future_frames, s.loss, s.feed,
                                       seed=self.config.seed)
        model.build()
        return model

    def initialize(self, model):
        checkpoints.restore_weights(model.vae, RunDir(self.settings.vae_dir, "vae_dir"))

    def train_losses(self, model, batch):
        return {"code": model.training_losses(batch[0])}

    def validation_losses(self, model, batch):
        s = self.settings
        frames = batch[0]
        futures = frames[:, s.input_frames:]
        loss = losses.frame_loss(s.output)
        mean, log_variance = model.encode_frames(frames)  # once for the three numbers
        rollout = model.rollout_codes(mean[:, :s.input_frames], s.future_frames)
        return {"code": model.code_losses(mean, log_variance), "future": loss(futures, model.decode_logits(rollout)),
                "vae_floor": loss(futures, model.decode_logits(mean[:, s.input_frames:]))}

    def mean_training_frame(self):
        source = getattr(self, "source", None) or frame_sets.SequenceSource(
            self.settings, self.config.seed, self.length, self.settings.frame_skip)
        return baselines.mean_frame(source.sequences(np.arange(64)))

    def pictures(self, model):
        s = self.settings
        shown = self.sequence_set.take(np.arange(min(IMAGE_SEQUENCES, len(self.sequence_set))))
        truth_in, truth_out = shown[:, :s.input_frames], shown[:, s.input_frames:]
        flat = video_sequences.flatten(truth_in)
        recon = model.activate(model.decode_logits(model.encode_frames(flat)[0]))
        recon = video_sequences.unflatten(ops.convert_to_numpy(recon), s.frame_shape)
        pred = video_sequences.unflatten(ops.convert_to_numpy(model(flat)["future"]), s.frame_shape)
        strips = [pictures.comparison_strip(truth_in[i], truth_out[i], recon[i], pred[i]) for i in range(len(shown))]
        return [base.Picture("sequences", "images", strips, "Row truth: priming frames, then the true future. Row "
                             "model: the VAE's reconstruction of the priming frames, then the closed-loop rollout "
                             "decoded from the LSTM's predicted codes."),
                base.Picture("animation", "animation",
                             pictures.side_by_side_frames(truth_in[0], truth_out[0], recon[0], pred[0]),
                             "Left: ground truth. Right: VAE reconstruction, then the rollout.")]

    def representations(self):
        return list(representations.LATENT)

    def represent(self, model, sequences, name):
        return representations.latent(model, sequences, name)

    def frame_vae(self, model):
        return model.vae

    def own_video_input(self):
        """Clips of `input_frames` frames every `frame_skip`-th frame, cut as the VAE's training frames were."""
        return frame_sets.frame_video_input(self.settings, self.settings.input_frames, self.settings.frame_skip)

    def export_endpoints(self, model):
        s = self.settings
        frame_shape = tuple(s.frame_shape)

        def rollout(frames, steps):
            prime, _ = model.encode_frames(ops.reshape(frames, (-1, s.input_frames, model.frame_dim)))
            codes = model.rollout_codes(prime, steps)
            logits = ops.reshape(model.decode_logits(codes), (-1, ops.shape(codes)[1], *frame_shape))
            out = {"frames": model.activate(logits), "codes": codes}
            if model.output_kind == "sigmoid":
                out["logits"] = logits
            return out

        def predict_future(frames, steps):  # the composite model's name and outputs, for tools that read both
            out = rollout(frames, steps)
            return {"future": out["frames"], **({"future_logits": out["logits"]} if "logits" in out else {})}

        inputs = [("frames", (None, s.input_frames, *frame_shape), "float32"),
                  ("steps", (), "int32", s.future_frames)]
        return ([base.Endpoint("rollout", rollout, inputs), base.Endpoint("predict_future", predict_future, inputs)]
                + vae_endpoints(model.vae, frame_shape))

    def describe(self, model):
        s = self.settings
        return (f"latent LSTM {','.join(map(str, s.units))} over the z={s.latent_dim} codes of {s.vae_dir} "
                f"(prime {s.input_frames}, roll out {s.future_frames}; loss {s.loss}, feed {s.feed})")
