"""Action recognition with an LSTM classifier of clips, optionally started from a composite model's encoder.

Data: per-frame CNN features in the original format (`hidden6` + num_frames + labels files; 16-frame clips at
stride 1 inside each video), or Bouncing MNIST sequences of one digit labelled by the digit, by its direction of
motion at the last frame (8 sectors) or by its speed (with `speed_spread`; `num_classes` equal bins) — few-label
benchmarks of appearance and of motion that need no download. Loss: cross-entropy at every step; a clip's
prediction is the mean of its per-step softmaxes, a video's the mean over its clips. Validation reports clip and
video accuracy; the best checkpoint by video accuracy is kept in model_dir/best/.
"""
import dataclasses

import numpy as np
from absl import logging
from keras import ops

from keras_vidrep import tasks
from keras_vidrep.data import factors, fc6, video_input, video_sequences
from keras_vidrep.data.bouncing import TRAIN_STREAM
from keras_vidrep.data.labelled_digits import (
    LABELLED_DIGITS,
    LABELS,
    LabelledDigitStream,
    digit_generator,
    labelled_digit_names,
    sequence_labels,
)
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.data.video_input import VideoInput
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.models import classifier as classifier_model
from keras_vidrep.models import composite as composite_model
from keras_vidrep.models import losses
from keras_vidrep.models.lstm import INITIALIZERS
from keras_vidrep.runs import checkpoints
from keras_vidrep.runs.directory import CONFIG_FILE, RunDir
from keras_vidrep.settings import check_choices, check_positive, refuse_unread, setting
from keras_vidrep.tasks import accumulate, base, representations

DATA = ("fc6", "bouncing_digits")
DROPOUT_STREAM = 0x4450  # random stream of the input dropout noise


@dataclasses.dataclass
class Settings(video_sequences.DigitSettings):
    """Settings of the classifier task (and, with `data`=bouncing_digits, of its digits: `DigitSettings`, one digit a
    sequence, from a labelled source); field names are the flag names."""

    data: str = setting("fc6", "Training data: CNN features of labelled videos (original fc6 format), or "
                               "Bouncing MNIST sequences of one digit labelled by the digit.", DATA)
    data_file: str = setting("", "data=fc6: HDF5 file with dataset `hidden6` (total_frames, D).")
    num_frames_file: str = setting("", "data=fc6: frames of each video, one integer per line.")
    labels_file: str = setting("", "data=fc6: label of each video, one integer per line.")
    val_data_file: str = setting("", "data=fc6: validation `hidden6` file.")
    val_num_frames_file: str = setting("", "data=fc6: validation frames per video.")
    val_labels_file: str = setting("", "data=fc6: validation labels.")
    class_names_file: str = setting("", "data=fc6: the classes' names, one a line in label order (vidrep-preprocess "
                                        "writes <output>_classes.txt), or UCF-101's classInd.txt (`<number> "
                                        "<name>`); empty: the _classes.txt beside `labels_file` if there is one, "
                                        "else the labels' numbers. Stored in the run and its export.")
    clip_length: int = setting(16, "Frames per clip.")
    val_clip_stride: int = setting(1, "Frames between validation clips of a video (1: every window, as in the "
                                      "original evaluation; larger for a quicker validation).")
    feature_dim: int = setting(4096, "data=fc6: values per frame feature.")
    num_classes: int = setting(101, "Classes (labels are 0 .. num_classes-1).")

    label: str = setting("digit", "data=bouncing_digits: what a sequence's class is: its digit (10 classes), its "
                                  "direction of motion at the last frame (8 sectors of 45 degrees), or its speed "
                                  "(`num_classes` equal bins of the speed range; needs `speed_spread`).", LABELS)
    labels_per_class: int = setting(0, "data=bouncing_digits: labelled training sequences per class (0: a fresh "
                                       "sequence every step).")
    val_sequences: int = setting(500, "data=bouncing_digits: held-out validation sequences.")

    units: tuple[int, ...] = setting((2048,), "LSTM units per layer, comma separated.")
    input_dropout: float = setting(0.0, "Dropout rate on the LSTM's inputs while training.")
    peepholes: bool = setting(False, "Peephole connections from the cell state to the gates.")
    initializer: str = setting("keras", "keras (Glorot/orthogonal) or original (U(+-0.01)).", INITIALIZERS)
    init_from: str = setting("", "Start the LSTM from the encoder of a composite model: its model directory, or a "
                                 "checkpoint prefix in it.")
    freeze_encoder: bool = setting(False, "With init_from: keep the pretrained encoder fixed.")
    encoder_learning_rate_scale: float = setting(1.0, "With init_from: train the encoder at this fraction of the "
                                                      "learning rate.")

    ARCHITECTURE_KEYS = ("input_shape", "num_classes", "units", "peepholes")

    @property
    def frame_shape(self):
        return (self.feature_dim,) if self.data == "fc6" else (self.canvas_size, self.canvas_size)

    @property
    def input_shape(self):
        return (self.clip_length, *self.frame_shape)

    def validate(self):
        check_positive(self, ("clip_length", "val_clip_stride", "feature_dim", "num_classes", "canvas_size",
                              "digit_size", "val_sequences"))
        check_choices(self)
        if self.digits not in LABELLED_DIGITS:
            raise ConfigError(f"`digits` must be one of {', '.join(LABELLED_DIGITS)}, got {self.digits!r}")
        if not self.units or any(int(u) <= 0 for u in self.units):
            raise ConfigError(f"`units` must be positive integers, got {','.join(map(str, self.units))!r}")
        if not 0.0 <= self.input_dropout < 1.0:
            raise ConfigError(f"`input_dropout` must be in [0, 1), got {self.input_dropout}")
        if self.labels_per_class < 0:
            raise ConfigError(f"`labels_per_class` must be >= 0, got {self.labels_per_class}")
        if self.encoder_learning_rate_scale <= 0:
            raise ConfigError(f"`encoder_learning_rate_scale` must be positive, got "
                              f"{self.encoder_learning_rate_scale}")
        if (self.freeze_encoder or self.encoder_learning_rate_scale != 1.0) and not self.init_from:
            raise ConfigError("`freeze_encoder` and `encoder_learning_rate_scale` need `init_from`")
        if self.digit_size > self.canvas_size:
            raise ConfigError(f"`digit_size` ({self.digit_size}) must not exceed `canvas_size` ({self.canvas_size})")
        if self.data == "bouncing_digits":
            refuse_unread(self, ("data_file", "num_frames_file", "labels_file", "val_data_file",
                                 "val_num_frames_file", "val_labels_file", "class_names_file"),
                          "`data`=bouncing_digits")
            if self.digits != "mnist_npz":
                refuse_unread(self, ("digits_path",), f"`digits`={self.digits}")
        else:
            refuse_unread(self, ("digits_path",), "`data`=fc6")
        video_sequences.speed_range(self)  # checks speed_spread
        if self.data != "bouncing_digits":
            refuse_unread(self, ("speed_spread",), f"`data`={self.data}")
            if self.label != "digit":
                raise ConfigError(f"`label`={self.label} is a class of generated sequences (`data`=bouncing_digits); "
                                  f"`data`={self.data} reads its labels from `labels_file`")
        elif self.label in ("digit", "direction"):
            classes = 10 if self.label == "digit" else factors.SECTORS
            if self.num_classes != classes:
                raise ConfigError(f"`label`={self.label} has {classes} classes, got `num_classes`={self.num_classes}")
        elif self.num_classes < 2 or not self.speed_spread:
            raise ConfigError(f"`label`=speed needs `speed_spread` > 0 and `num_classes` >= 2 speed bins, got "
                              f"{self.speed_spread} and {self.num_classes}")


class Task(base.Task):
    """Trains an `LSTMClassifier` on labelled clips."""

    name = "classifier"
    Settings = Settings
    best_metric = "video_accuracy"

    def prepare_data(self):
        s = self.settings
        self.prepare_validation()
        if s.data == "fc6":
            train = self._clips("data_file", s.data_file, s.num_frames_file, s.labels_file)
            self.source = fc6.ClipStream(train, self.config.seed, TRAIN_STREAM)
        else:
            self.source = LabelledDigitStream(s, self.config.seed)
        if s.init_from:
            pretrained_run(s.init_from)  # a bad path or run stops the run before anything is written

    def prepare_validation(self):
        s = self.settings
        if s.data == "fc6":
            val = self._clips("val_data_file", s.val_data_file, s.val_num_frames_file, s.val_labels_file,
                              s.val_clip_stride)
            # Read batch by batch at every validation: UCF-101's test list at stride 1 is ~650k clips (~160 GB).
            self.val = ValidationSet(lambda ids: (*val.clips(ids), val.video_of(ids)), len(val))
            self.val_labels = val.labels
        else:
            generator, labels = digit_generator(s, self.config.seed, "test")
            self.val_labels = sequence_labels(s, generator, labels, np.arange(s.val_sequences)).astype(np.int32)

            def read(ids):  # one clip per sequence, drawn when read
                clips = generator.sequences(ids).reshape(len(ids), s.clip_length, -1)
                return clips, self.val_labels[ids], ids

            self.val = ValidationSet(read, s.val_sequences)

    def class_names(self):
        """The name of every class, in label order: those the run stored (class_names.txt in its directory), else
        from `class_names_file` (or the _classes.txt beside `labels_file`), the digits, directions or speed bins of
        generated sequences, or the labels' numbers."""
        s, stored = self.settings, self.config.run_dir.read_class_names() if self.config.model_dir else None
        if stored is not None:
            return stored
        if s.data == "bouncing_digits":
            return labelled_digit_names(s)
        path = s.class_names_file or fc6.classes_file_beside(s.labels_file)
        if path:
            return fc6.read_class_names(path, s.num_classes, "class_names_file" if s.class_names_file else
                                        "labels_file's _classes.txt")
        return [str(k) for k in range(s.num_classes)]

    def own_video_input(self):
        """Generated digits: grey squares of the canvas (a video's centred square); fc6 clips: the features of the
        backbone the training file names (`video_input.backbone_video_input`), or none for a file that names none."""
        s = self.settings
        if s.data == "bouncing_digits":
            return VideoInput(height=s.canvas_size, width=s.canvas_size, channels=1, frames=s.clip_length)
        return video_input.backbone_video_input(s.data_file, s.clip_length)

    def _clips(self, flag, data_file, num_frames_file, labels_file, stride=1):
        """The checked FeatureClips of one set of fc6 files."""
        s = self.settings
        clips = fc6.FeatureClips(data_file, num_frames_file, labels_file, s.clip_length, stride, flag=flag)
        if clips.feature_dim != s.feature_dim:
            raise DataError(f"`{flag}` holds {clips.feature_dim} features per frame, but `feature_dim` is "
                            f"{s.feature_dim}")
        self._check_labels(clips.labels, labels_file)
        if len(clips.short_videos):
            logging.warning("%s: %d of %d videos are shorter than `clip_length`=%d and have no clip%s", flag,
                            len(clips.short_videos), len(clips.num_frames), s.clip_length,
                            "; they count as misclassified in video_accuracy" if flag.startswith("val_") else "")
        return clips

    def _check_labels(self, labels, path):
        if labels.max() >= self.settings.num_classes:
            raise DataError(f"{path}: label {int(labels.max())} is out of range for `num_classes`="
                            f"{self.settings.num_classes}")

    def train_signature(self, batch_size):
        s = self.settings
        clips = ((batch_size, s.clip_length, int(np.prod(s.frame_shape))), "float32")
        return [clips, ((batch_size,), "int32")] + ([clips] if s.input_dropout else [])

    def train_batch(self, step, global_batch_size, start, count):
        """(clips, labels[, dropout noise]): the noise of example i of step `step` is drawn from (seed, step, i),
        so it does not depend on how the global batch is split or whether the run was resumed."""
        batch = self.source.batch(step, global_batch_size, start, count)
        if not self.settings.input_dropout:
            return batch
        shape = batch[0].shape[1:]
        noise = [np.random.default_rng([self.config.seed, DROPOUT_STREAM, step, i]).random(shape, np.float32)
                 for i in range(start, start + len(batch[0]))]
        return (*batch, np.stack(noise) if noise else np.zeros((0, *shape), np.float32))

    def validation_set(self):
        return self.val

    def build_model(self):
        s = self.settings
        model = classifier_model.LSTMClassifier(int(np.prod(s.frame_shape)), s.num_classes, s.units,
                                                s.input_dropout, s.peepholes, s.initializer, seed=self.config.seed)
        model.build()
        model.encoder.trainable = not s.freeze_encoder
        return model

    def initialize(self, model):
        if not self.settings.init_from:
            return
        run_dir, checkpoint, settings, seed = pretrained_run(self.settings.init_from)
        pretrained = composite_model.from_settings(settings, seed)
        checkpoints.restore_weights(pretrained, run_dir, checkpoint, whole=False)
        try:
            classifier_model.load_encoder(model, pretrained)
        except ValueError as e:
            raise ConfigError(f"`init_from` {self.settings.init_from!r}: {e}") from None

    def learning_rate_scales(self, model):
        scale = self.settings.encoder_learning_rate_scale
        return {v.path: scale for v in model.encoder.trainable_variables} if scale != 1.0 else {}

    def train_losses(self, model, batch):
        clips, labels = batch[:2]
        noise = batch[2] if len(batch) > 2 else None
        return {"cross_entropy": losses.step_cross_entropy(model.step_logits(clips, True, noise), labels)}

    def validation_losses(self, model, batch):
        clips, labels, videos = batch
        logits = model.step_logits(clips)
        return {"cross_entropy": losses.step_cross_entropy(logits, labels), "labels": labels, "videos": videos,
                "probabilities": ops.mean(ops.softmax(logits, axis=-1), axis=1)}

    def validation_summary(self):
        return accumulate.VideoAccuracy(self.val_labels, self.settings.num_classes)

    def summary_name(self, name):
        return f"accuracy/{name}" if name.endswith("accuracy") else f"loss/{name}"

    def representations(self):
        return representations.layer_names("state", len(self.settings.units))

    def represent(self, model, sequences, name):
        return representations.classifier(model, sequences, name)

    def export_endpoints(self, model):
        s = self.settings
        dim = int(np.prod(s.frame_shape))
        inputs = [("clips", (None, s.clip_length, *s.frame_shape), "float32")]

        def classify(clips):
            per_step = model(ops.reshape(clips, (-1, s.clip_length, dim)))["per_step"]
            return {"probabilities": ops.mean(per_step, axis=1), "per_step": per_step}

        def classify_video(clips):
            probabilities = classify(clips)["probabilities"]
            return {"video_probabilities": ops.mean(probabilities, axis=0), "clip_probabilities": probabilities}

        names = self.class_names()
        return [base.Endpoint("classify", classify, inputs, {"class": ("probabilities", names)}),
                base.Endpoint("classify_video", classify_video, inputs,
                              {"video_class": ("video_probabilities", names), "clip_class": ("clip_probabilities",
                                                                                           names)})]

    def describe(self, model):
        s = self.settings
        start = f"encoder from {s.init_from}" + (" (frozen)" if s.freeze_encoder else "") if s.init_from else \
            "from scratch"
        return f"LSTM classifier ({s.num_classes} classes) on {s.data} clips {s.input_shape}, {start}"


def pretrained_run(init_from):
    """The composite run of `init_from` (a model directory or a checkpoint prefix), checked: a run with a checkpoint
    whose encoder read the values the classifier reads (not standardized features). ConfigError otherwise.

    Returns:
      (RunDir, checkpoint prefix or "", the run's composite Settings, its seed).
    """
    run_dir, checkpoint = RunDir.of_checkpoint(init_from, "init_from")
    if not run_dir.has_config():
        raise ConfigError(f"`init_from` {init_from!r}: {run_dir.path!r} holds no {CONFIG_FILE}; give the model "
                          f"directory of a composite run of vidrep-train")
    if run_dir.read_config()["task"] != "composite":
        raise ConfigError(f"`init_from` {init_from!r} holds a run of task {run_dir.read_config()['task']!r}; the "
                          f"classifier starts from the encoder of a composite run")
    settings, seed = tasks.trained_settings(run_dir, "composite")
    if settings.data == "video_features" and settings.standardize:
        raise ConfigError(f"`init_from` {init_from!r} was trained on standardized features (`standardize`=true), "
                          f"but the classifier reads raw features: its encoder would see other values. Pretrain "
                          f"with --standardize=false")
    if not checkpoint and not run_dir.has_checkpoint():
        raise ConfigError(f"`init_from` {init_from!r} has no checkpoint yet")
    return run_dir, checkpoint, settings, seed
