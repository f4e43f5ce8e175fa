"""The interface between the trainer and a model family (in the spirit of TF Model Garden's `Task`).

A task is written with numpy and keras.ops only; the trainer turns what it returns into tf.data pipelines, a
`tf.distribute` train step, TensorBoard summaries, checkpoints and a SavedModel. Batches are tuples of arrays whose
first axis is the batch.

The trainer's train step, per replica, is

    per_example = task.train_losses(model, batch)              # {name: (batch,)}
    loss = sum(per_example) averaged over the GLOBAL batch + sum(model.losses) / replicas

so every `add_loss` term of the model's layers (a per-replica scalar, by Keras convention a mean over the replica's
batch) counts once whatever the number of replicas. `model.losses` holds the terms of the model's last `__call__`:
a task whose model adds losses calls the model through `model(...)` in `train_losses`.
"""
import dataclasses
from collections.abc import Callable
from typing import Any

from keras_vidrep.data.video_input import VideoInput
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import fused_lstm
from keras_vidrep.tasks import accumulate, baselines


@dataclasses.dataclass
class Picture:
    """A picture for TensorBoard: `images` (N, H, W[, C]) shown as stills, or `frames` (T, H, W[, C]) as a GIF."""
    name: str
    kind: str  # "images" or "animation"
    data: Any
    description: str = ""


@dataclasses.dataclass
class Endpoint:
    """A SavedModel signature: `fn(**inputs)` returns a dict of named tensors.

    `inputs` is a list of (name, shape with None for the batch, dtype), optionally followed by inputs with a
    default, (name, shape, dtype, default), which callers of the loaded function may leave out. `classes` adds, for
    each {output: (probabilities output, class names)}, the most probable class `output` (int64) and its name
    `output_name` (string), computed inside the SavedModel."""
    name: str
    fn: Callable
    inputs: list[tuple]
    classes: dict = dataclasses.field(default_factory=dict)


class Task:
    """Base class of a model family. Subclasses set `name` and `Settings` and implement the methods below.

    `Settings` is a dataclass of the task's own settings (each field's metadata holds its flag help and choices,
    see `keras_vidrep.config.setting`), with `validate()` and `ARCHITECTURE_KEYS`: the settings that fix the
    weights, which a resumed run must not change.

    Args:
      config: a `keras_vidrep.config.Config` of this task.
    """

    name = ""
    Settings = None
    progress_key = "total"  # the training loss shown on the progress bar
    predicts_video = False  # whether the model predicts future frames (`future_logits`), as vidrep-eval scores

    def __init__(self, config):
        if config.task != self.name and ":" not in config.task:
            raise ConfigError(f"task {self.name!r} was given a config of task {config.task!r}")
        self.config = config
        self.settings = config.settings

    # Data. `prepare_data` reads everything a run needs and raises DataError on bad input, before the trainer
    # writes anything.
    def prepare_data(self):
        """Opens the training and validation data."""

    def prepare_validation(self):
        """Opens the validation data only (for tools that evaluate a trained model); by default all of it."""
        self.prepare_data()

    def train_signature(self, batch_size):
        """[(shape, dtype)] of one element of `train_batch` with `batch_size` rows."""
        raise NotImplementedError

    def train_batch(self, step, global_batch_size, start, count):
        """Rows [start, start + count) of the global training batch number `step`: a tuple of numpy arrays.

        Must be a pure function of its arguments (and the seed), so that runs resume and split across replicas
        exactly."""
        raise NotImplementedError

    def own_shards(self, part, parts):
        """Keeps the training stream (`self.source`) to worker `part` of `parts`'s shards when its file is sharded
        (see keras_vidrep.data.shards); returns False, reading everything, otherwise."""
        own = getattr(getattr(self, "source", None), "own_shards", None)
        return bool(own and own(part, parts))

    def validation_set(self):
        """The fixed validation set: a `ValidationSet` of tuples of arrays (one batch of the task's validation
        inputs), read a batch at a time at every validation."""
        raise NotImplementedError

    # Model and losses.
    def build_model(self):
        """The task's Keras model, built (its weights exist)."""
        raise NotImplementedError

    def train_losses(self, model, batch):
        """{name: per-example loss (batch,)} of a training batch; the trainer adds them up."""
        raise NotImplementedError

    def validation_losses(self, model, batch):
        """{name: per-example values (batch, ...)} on a validation batch; see `validation_summary`."""
        return self.train_losses(model, batch)

    def validation_summary(self):
        """A fresh accumulator of `validation_losses`, batch by batch (`add`), for `summarize_validation`. By
        default every value is averaged over the whole set without the set in memory (`accumulate.MeanSummary`)."""
        return accumulate.MeanSummary()

    def summarize_validation(self, summary):
        """{name: number} of the whole validation set from the accumulator `summary` (default: its means); a task
        overrides this to add derived numbers (a total)."""
        return summary.result()

    # The validation number that picks the best checkpoint (kept in model_dir/best/), and whether higher is better;
    # None keeps no best checkpoint.
    best_metric = None
    best_mode = "max"

    def initialize(self, model):
        """Called once for a run that has no checkpoint of its own yet (e.g. to load pretrained weights)."""

    @staticmethod
    def all_examples(values):
        """`values` of this replica's examples (first axis) → those of the whole global batch, in order.

        For a loss that is not a mean over examples (an MMD between the batch and prior samples): while a train
        step runs under a distribution strategy, the trainer puts a differentiable cross-replica all-gather here;
        elsewhere it is the identity."""
        return values

    def learning_rate_scales(self, model):
        """{variable path: factor} for variables trained at a scaled learning rate (default: none)."""
        return {}

    def train_scalars(self, step):
        """{TensorBoard tag: value} of the task's training schedules at global step `step` (default: none)."""
        return {}

    def summary_name(self, name):
        """The TensorBoard tag of validation number `name` (default: `loss/<name>`)."""
        return f"loss/{name}"

    def baselines(self):
        """{name: value} of reference predictors on the validation set (logged beside the validation losses)."""
        return {}

    def pictures(self, model):
        """[Picture] for TensorBoard, drawn from the validation set."""
        return []

    def representations(self):
        """The fixed-size representations of a sequence the family offers (names, the default first; see
        `keras_vidrep.tasks.representations`); none by default."""
        return []

    def represent(self, model, sequences, name):
        """The representation `name` of `sequences` (n, T, *frame_shape) in [0, 1] by `model`: float32 (n, dim)."""
        raise ConfigError(f"task {self.name!r} offers no representation of a sequence")

    def check_representation(self, name=""):
        """`name`, or the default representation when empty; ConfigError if the family offers no such one."""
        names = self.representations()
        if not names:
            raise ConfigError(f"task {self.name!r} offers no representation of a sequence")
        if name and name not in names:
            raise ConfigError(f"`representation` must be one of {', '.join(names)} for a {self.name} model, got "
                              f"{name!r}")
        return name or names[0]

    def frame_vae(self, model):
        """The frame VAE inside `model` (whose codes vidrep-embed writes), or None for a family without one."""
        return None

    def input_statistics(self):
        """{name: array} the model's inputs are standardized with (stored in the run when it starts, and in its
        export), or None when the inputs are read as they are."""
        return None

    def standardize_inputs(self, values):
        """`values` (..., *frame_shape) in the units the model reads (see `input_statistics`)."""
        statistics = self.input_statistics()
        if statistics is None:
            return values
        return (values - statistics["mean"]) / statistics["std"]

    def video_input(self):
        """What the model reads of a video as decoded (`keras_vidrep.data.video_input.VideoInput`): its export then
        gets signatures of raw uint8 video (`encode_video`, `predict_future_frames`, ...); None: none. The geometry
        the run stored when it started (video_input.json), else `own_video_input()`."""
        stored = self.config.run_dir.read_video_input() if self.config.model_dir else None
        return VideoInput(**stored) if stored is not None else self.own_video_input()

    def own_video_input(self):
        """The family's answer to `video_input` from its settings and data (None: it reads no raw video)."""
        return None

    def class_names(self):
        """The names of the classes a classifier predicts, in label order (stored in the run and its export); None
        for a family that predicts no classes."""
        return None

    def export_endpoints(self, model):
        """[Endpoint] of the SavedModel; the first is also `serving_default`."""
        raise NotImplementedError

    @staticmethod
    def building_export():
        """The context the export traces and saves the endpoints in: the LSTMs without their hand-written backward
        pass (`fused_lstm.autodiff_only`), an inference graph with no custom gradient functions to trace and save."""
        return fused_lstm.autodiff_only()

    def describe(self, model):
        """One line about the model for the log."""
        return f"{self.name} model"


class SequenceBaselines:
    """`baselines` for a task of sequences split into input and future frames: the mean training frame and the
    copy-last-frame predictors on the validation sequences, read batch by batch (the task gives
    `mean_training_frame()` and `sequence_set`, the `ValidationSet` of its validation sequences)."""

    def baselines(self):
        s = self.settings
        return baselines.baseline_losses(self.mean_training_frame(), self.sequence_set.batches(256), s.input_frames,
                                         s.future_frames, s.output)
