"""The composite LSTM model (encoder, reverse reconstruction, future prediction) on frame sequences.

Data: Bouncing MNIST generated on the fly (grey (H, W) frames, Bernoulli cross-entropy), sequences from a patch
file such as the original UCF-101 patches (RGB (H, W, 3) frames, linear output and 0.5 * squared error), or
sequences of feature vectors ((D,) frames, linear output; no pictures, SSIM or PSNR for them).
Validation is free-running — the future predictor feeds back its own output — and, for a conditional future
predictor, also teacher-forced (`future_teacher_forced`).
"""
import dataclasses

import numpy as np
from keras import ops

from keras_vidrep import pictures
from keras_vidrep.data import video_input, video_sequences
from keras_vidrep.data.frame_file import SPLITS
from keras_vidrep.data.video_input import VideoInput
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import composite, losses, sampling
from keras_vidrep.settings import check_choices, check_positive, refuse_unread, setting
from keras_vidrep.tasks import base, baselines, representations, signatures

DATA = ("bouncing_mnist", *video_sequences.FILE_SETS, video_sequences.VIDEO_FEATURES)
IMAGE_SEQUENCES = 4  # sequences shown in each TensorBoard picture
BASELINE_SEQUENCES = 512  # training sequences the mean training frame is estimated from


@dataclasses.dataclass
class Settings(video_sequences.BouncingSettings):
    """Settings of the composite task (and Bouncing MNIST's); field names are the flag names."""

    data: str = setting("bouncing_mnist", "Training data: Bouncing MNIST generated on the fly, the image sequences "
                                          "of a patch file, or the feature-vector sequences of a file (`data_file`).",
                        DATA)
    data_file: str = setting("", "data=patches: the original ucf101_*_patches.npy or an HDF5 file written by "
                                 "vidrep-preprocess --kind=patches; data=features: float .npy (N, T, D) or HDF5 "
                                 "dataset `sequences`; data=video_features: a file of vidrep-features.")
    val_fraction: float = setting(0.1, "data=video_features: fraction held out for validation (see `val_split`).")
    val_split: str = setting("videos", "data=video_features: hold out the last videos, or the last frames of every "
                                       "video (`tail`).", SPLITS)
    standardize: bool = setting(True, "data=video_features: feed each feature value in units of its training mean "
                                      "and standard deviation (the export takes and returns raw features).")
    frame_size: int = setting(32, "data=patches: frame height and width in pixels.")
    channels: int = setting(3, "data=patches: colour channels per frame (3: RGB).")
    feature_dim: int = setting(4096, "data=features: values per feature vector.")

    seq_length: int = setting(20, "Frames per sequence (generated, or stored per row of a patch file).")
    input_frames: int = setting(10, "Frames the encoder reads.")
    future_frames: int = setting(10, "Frames the future predictor outputs.")
    val_dataset: str = setting("generated", "Validation data: a fixed seeded generated set, a standard test file, "
                                            "or a sequence file.", video_sequences.SEQUENCE_SETS)
    val_path: str = setting("", "File for val_dataset=bouncing_mnist_test, mnist_test_seq, patches or features.")
    val_sequences: int = setting(256, "Validation sequences used (the first N of the set).")

    model: str = setting("composite", "composite, autoencoder (reconstruction only) or future (prediction only).",
                         composite.MODEL_TYPES)
    units: tuple[int, ...] = setting((256,), "LSTM units per layer, comma separated (e.g. 2048,2048).")
    conditional_reconstruction: bool = setting(False, "Feed the reconstruction decoder the previous target frame.")
    conditional_future: bool = setting(False, "Feed the future predictor the previous frame (own output at "
                                              "inference).")
    peepholes: bool = setting(False, "Peephole connections from the cell state to the gates.")
    bottleneck: int = setting(0, "Size of a compact code between the encoder and the decoders (a dense tanh layer "
                                 "on the encoder's final states; 0: none, the states themselves).")
    output: str = setting("sigmoid", "sigmoid + Bernoulli cross-entropy (binary data), or linear + 0.5*squared "
                                     "error (real-valued data such as natural video).", composite.OUTPUTS)
    initializer: str = setting("keras", "keras (Glorot/orthogonal) or original (U(+-0.01), peepholes U(+-0.1)).",
                               composite.INITIALIZERS)

    sampling_schedule: str = setting("teacher_forcing", "Conditional future predictor in training: the schedule of "
                                                        "p, the probability of reading the true previous frame "
                                                        "rather than its own output (see "
                                                        "keras_vidrep.models.sampling).",
                                     sampling.SCHEDULES)
    sampling_probability: float = setting(1.0, "p of sampling_schedule=constant, and the start of linear.")
    sampling_floor: float = setting(0.0, "sampling_schedule=linear: the final p.")
    sampling_steps: int = setting(50000, "sampling_schedule=linear: updates over which p falls to the floor.")
    sampling_k: float = setting(1000.0, "sampling_schedule=inverse_sigmoid: k in p = k / (k + exp(step / k)).")
    sampling_feed: str = setting("mean", "What the predictor reads of its own output in training: the mean "
                                         "(probabilities), or a Bernoulli sample of it (sigmoid output only).",
                                 sampling.FEEDS)
    sampling_gradient: bool = setting(True, "Let the gradient flow through the fed-back outputs (mean feed).")

    ARCHITECTURE_KEYS = ("frame_shape", "model", "units", "conditional_reconstruction", "conditional_future",
                         "peepholes", "output", "bottleneck")

    @property
    def frame_shape(self):
        """(H, W) grey Bouncing MNIST frames, (H, W, C) patch frames, or (D,) feature vectors."""
        if self.data == "bouncing_mnist":
            return (self.canvas_size, self.canvas_size)
        if self.data in ("features", video_sequences.VIDEO_FEATURES):
            return (self.feature_dim,)
        return (self.frame_size, self.frame_size, self.channels)

    @property
    def frame_dim(self):
        return int(np.prod(self.frame_shape))

    def validate(self):
        check_positive(self, ("canvas_size", "digit_size", "num_digits", "seq_length", "input_frames",
                              "val_sequences", "frame_size", "channels", "feature_dim"))
        check_choices(self)
        if self.future_frames < 0:
            raise ConfigError(f"`future_frames` must be >= 0, got {self.future_frames}")
        if not self.units or any(int(u) <= 0 for u in self.units):
            raise ConfigError(f"`units` must be positive integers, got {','.join(map(str, self.units))!r}")
        if self.digit_size > self.canvas_size:
            raise ConfigError(f"`digit_size` ({self.digit_size}) must not exceed `canvas_size` ({self.canvas_size})")
        if self.input_frames + self.future_frames > self.seq_length:
            raise ConfigError(f"`input_frames` + `future_frames` ({self.input_frames} + {self.future_frames}) must "
                              f"not exceed `seq_length` ({self.seq_length})")
        if self.model in ("composite", "future") and self.future_frames == 0:
            raise ConfigError(f"`model`={self.model} predicts the future, so `future_frames` must be > 0")
        if self.step_length <= 0:
            raise ConfigError(f"`step_length` must be positive, got {self.step_length}")
        video_sequences.speed_range(self)  # checks speed_spread
        if self.data in video_sequences.FILE_SETS and not self.data_file:
            raise ConfigError(f"`data`={self.data} needs `data_file`")
        if self.data in video_sequences.FILE_SETS and self.val_dataset != self.data:
            raise ConfigError(f"`data`={self.data} validates on a file of the same kind: set "
                              f"`val_dataset`={self.data} and `val_path`, got `val_dataset`={self.val_dataset}")
        if self.data in ("features", video_sequences.VIDEO_FEATURES) and self.output != "linear":
            raise ConfigError(f"`data`={self.data} holds real-valued vectors: set `output`=linear")
        if self.data == video_sequences.VIDEO_FEATURES:
            if not self.data_file:
                raise ConfigError("`data`=video_features needs `data_file` (write one with vidrep-features)")
            if self.val_dataset != "generated":
                raise ConfigError(f"`data`=video_features validates on held-out parts of `data_file` (see "
                                  f"`val_fraction`, `val_split`), not on `val_dataset`={self.val_dataset}")
            if not 0.0 < self.val_fraction < 1.0:
                raise ConfigError(f"`val_fraction` must be in (0, 1), got {self.val_fraction}")
        if self.bottleneck < 0:
            raise ConfigError(f"`bottleneck` must be >= 0, got {self.bottleneck}")
        if self.data == "bouncing_mnist":
            refuse_unread(self, ("data_file",), "`data`=bouncing_mnist (generated digits)")
        else:
            refuse_unread(self, ("speed_spread",), f"`data`={self.data} (only generated digits move at a speed)")
        if self.val_dataset in ("generated", "tfds_moving_mnist"):
            refuse_unread(self, ("val_path",), f"`val_dataset`={self.val_dataset}")
        video_sequences.check_digits_path(self)
        if self.val_dataset != "generated" and self.val_dataset != "tfds_moving_mnist" and not self.val_path:
            raise ConfigError(f"`val_dataset`={self.val_dataset} needs `val_path`")
        self._validate_sampling()

    @property
    def sampled(self):
        """Whether training uses scheduled sampling (anything but plain teacher forcing)."""
        return self.sampling_schedule != "teacher_forcing"

    def _validate_sampling(self):
        if self.sampled and not (self.model in ("composite", "future") and self.conditional_future):
            raise ConfigError(f"`sampling_schedule`={self.sampling_schedule} needs a conditional future predictor "
                              f"(`conditional_future`=true and `model`=composite or future), got "
                              f"`conditional_future`={str(self.conditional_future).lower()}, `model`={self.model}")
        for name in ("sampling_probability", "sampling_floor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"`{name}` must be in [0, 1], got {getattr(self, name)}")
        check_positive(self, ("sampling_steps",))
        if self.sampling_k <= 0:
            raise ConfigError(f"`sampling_k` must be positive, got {self.sampling_k}")
        if self.sampled and self.sampling_feed == "sample" and self.output != "sigmoid":
            raise ConfigError(f"`sampling_feed`=sample draws Bernoulli frames and needs `output`=sigmoid, got "
                              f"`output`={self.output}")

    def truth_probability(self, step):
        """p at global step `step` (see keras_vidrep.models.sampling)."""
        return sampling.truth_probability(self.sampling_schedule, step, self.sampling_probability,
                                          self.sampling_floor, self.sampling_steps, self.sampling_k)


class Task(base.SequenceBaselines, base.Task):
    """Trains a `CompositeModel` on sequences of frames."""

    name = "composite"
    Settings = Settings
    predicts_video = True

    def prepare_data(self):
        s = self.settings
        stored = self.config.run_dir.read_statistics() if self.config.model_dir else None
        self.source = video_sequences.training_source(
            s, self.config.seed, (stored["mean"], stored["std"]) if stored and s.standardize else None)
        # Files (and held-out digits) are opened and checked now, so that bad input stops the run before it starts;
        # sequences are read, or drawn, batch by batch at every validation.
        self._sequences = self._open_validation()

    def _open_validation(self):
        s = self.settings
        sequences = video_sequences.validation_set(s, self.config.seed, getattr(self, "source", None))
        if s.val_dataset != "generated":  # generated sequences have the settings' shape
            video_sequences.check_frames(sequences.take(np.arange(min(1, len(sequences)))), s.frame_shape,
                                     f"`val_dataset` {s.val_dataset}", s.input_frames + s.future_frames)
        return sequences

    @property
    def sequence_set(self):
        """The validation sequences (N, T, *frame_shape), a `ValidationSet` (see `video_sequences.validation_set`)."""
        if getattr(self, "_sequences", None) is None:
            self._sequences = self._open_validation()
        return self._sequences

    def train_signature(self, batch_size):
        s = self.settings
        signature = [((batch_size, s.input_frames, s.frame_dim), "float32"),
                     ((batch_size, s.future_frames, s.frame_dim), "float32")]
        if s.sampled:  # scheduled sampling: which steps read the truth, and the noise of Bernoulli samples
            signature.append(((batch_size, s.future_frames), "float32"))
            if s.sampling_feed == "sample":
                signature.append(((batch_size, s.future_frames, s.frame_dim), "float32"))
        return signature

    def train_batch(self, step, global_batch_size, start, count):
        s = self.settings
        batch = video_sequences.split_frames(self.source.batch(step, global_batch_size, start, count), s.input_frames,
                                         s.future_frames)
        if not s.sampled:
            return batch
        coins, noise = sampling.coin_flips(self.config.seed, step, global_batch_size, s.future_frames, start, count,
                                           s.frame_dim if s.sampling_feed == "sample" else None)
        truth_mask = (coins < s.truth_probability(step)).astype(np.float32)
        return (*batch, truth_mask) + ((noise,) if noise is not None else ())

    def train_scalars(self, step):
        if not self.settings.sampled:
            return {}
        return {"scheduled_sampling/truth_probability": self.settings.truth_probability(step)}

    def validation_set(self):
        s = self.settings
        return self.sequence_set.map(lambda batch: video_sequences.split_frames(batch, s.input_frames, s.future_frames))

    def build_model(self):
        return composite.from_settings(self.settings, self.config.seed)

    def train_losses(self, model, batch):
        inputs, futures = batch[:2]
        if not self.settings.sampled:
            return losses.composite_losses(model, inputs, futures, model.forward(inputs, futures,
                                                                                 teacher_forcing=True))
        noise = batch[3] if len(batch) > 3 else None
        logits = model.forward(inputs, futures, truth_mask=batch[2], sample_noise=noise,
                               feedback_gradient=self.settings.sampling_gradient)
        return losses.composite_losses(model, inputs, futures, logits)

    def validation_losses(self, model, batch):
        inputs, futures = batch
        out = losses.composite_losses(model, inputs, futures, model.forward(inputs))
        if model.predicts and model.conditional_future:
            forced = model.forward(inputs, futures, teacher_forcing=True)
            out["future_teacher_forced"] = losses.composite_losses(model, inputs, futures, forced)["future"]
        return out

    def summarize_validation(self, summary):
        means = super().summarize_validation(summary)
        if "reconstruction" in means and "future" in means:
            means["total"] = means["reconstruction"] + means["future"]
        return means

    def mean_training_frame(self):
        """The mean frame of (a sample of) the training sequences; opens the training data if needed."""
        source = getattr(self, "source", None) or video_sequences.training_source(self.settings, self.config.seed)
        return baselines.mean_frame(source.sequences(np.arange(BASELINE_SEQUENCES)))

    def pictures(self, model):
        s = self.settings
        if len(s.frame_shape) == 1:
            return []  # feature vectors: nothing to look at
        shown = self.sequence_set.take(np.arange(min(IMAGE_SEQUENCES, len(self.sequence_set))))
        truth_in, truth_out = shown[:, :s.input_frames], shown[:, s.input_frames:s.input_frames + s.future_frames]
        inputs, _ = video_sequences.split_frames(shown, s.input_frames, s.future_frames)
        outputs = {k: video_sequences.unflatten(ops.convert_to_numpy(v), s.frame_shape)
                   for k, v in model(inputs).items()}
        recon = outputs.get("reconstruction", [None] * len(shown))
        pred = outputs.get("future", [None] * len(shown))
        strips = [pictures.comparison_strip(truth_in[i], truth_out[i], recon[i], pred[i]) for i in range(len(shown))]
        frames = pictures.side_by_side_frames(truth_in[0], truth_out[0], recon[0], pred[0])
        return [base.Picture("sequences", "images", strips, "Row truth: input frames, then the true future. Row "
                             "model: reconstruction (in input order), then the free-running prediction."),
                base.Picture("animation", "animation", frames, "Left: ground truth. Right: the model's "
                             "reconstruction, then its free-running prediction; the caption numbers the frame.")]

    def representations(self):
        return representations.layer_names("code", len(self.settings.units))

    def represent(self, model, sequences, name):
        return representations.composite(model, sequences, name)

    def input_statistics(self):
        """Feature windows (`standardize`): each value's mean and standard deviation over the training rows, those
        the run stored when it started (a run made before they were stored measures its training file again)."""
        s = self.settings
        if s.data != video_sequences.VIDEO_FEATURES or not s.standardize:
            return None
        stored = self.config.run_dir.read_statistics() if self.config.model_dir else None
        if stored is not None:
            return stored
        if not hasattr(self, "source"):
            self.prepare_data()
        mean, std = self.source.standardization
        return {"mean": mean, "std": std}

    def own_video_input(self):
        """Bouncing MNIST runs read grey square frames of the canvas' size (a video's centred square, in grey,
        resized to it); patch runs a grid of patches cut as their file's were; feature-window runs the features of
        the backbone their file names (`video_input.backbone_video_input`); sequences of a features file none."""
        s = self.settings
        if s.data == "bouncing_mnist":
            return VideoInput(height=s.canvas_size, width=s.canvas_size, channels=1, frames=s.input_frames)
        if s.data == "patches":
            return video_input.patch_video_input(s.data_file, s.frame_size, s.channels, s.input_frames)
        if s.data == video_sequences.VIDEO_FEATURES:
            return video_input.backbone_video_input(s.data_file, s.input_frames)
        return None

    def export_endpoints(self, model):
        statistics = self.input_statistics()
        return signatures.composite_endpoints(model, self.settings.input_frames, self.settings.frame_shape,
                                   None if statistics is None else (statistics["mean"], statistics["std"]))

    def describe(self, model):
        return f"{self.settings.model} model on {self.settings.data} frames {self.settings.frame_shape}"
