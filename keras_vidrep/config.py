"""One experiment's settings: a dataclass that the flags fill and that is written into the model directory.

The same `Config` drives the data pipeline, the model, training and export, so a model directory alone is enough to
rebuild its model (`Config.load(model_dir)`).
"""
import dataclasses
import json
import os
from typing import Tuple

from keras_vidrep.errors import ConfigError

CONFIG_FILE = "config.json"

DIGIT_SOURCES = ("sklearn", "mnist_h5", "mnist_npz", "tfds")
VAL_DATASETS = ("generated", "bouncing_mnist_test", "mnist_test_seq", "tfds_moving_mnist")
MODEL_TYPES = ("composite", "autoencoder", "future")
OUTPUTS = ("sigmoid", "linear")
INITIALIZERS = ("keras", "original")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker")


def _field(default, help_text, choices=None):
    return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


@dataclasses.dataclass
class Config:
    """Every setting of an experiment; field names are the command-line flag names."""

    experiment: str = _field("quickstart", "Experiment name; exports go to saved_models/<experiment> by default.")
    model_dir: str = _field("", "Directory for checkpoints, TensorBoard summaries and config.json (required).")
    export_dir: str = _field("", "Where the SavedModel goes; empty means saved_models/<experiment>.")
    seed: int = _field(0, "Seed for data generation and weight initialisation.")

    # Data.
    digits: str = _field("sklearn", "Digit images: bundled sklearn digits, mnist.h5, Keras mnist.npz or TFDS mnist.",
                         DIGIT_SOURCES)
    digits_path: str = _field("", "Path of mnist.h5 / mnist.npz (empty: the Keras cache for mnist_npz).")
    canvas_size: int = _field(64, "Height and width of the square canvas in pixels.")
    digit_size: int = _field(28, "Digit height and width in pixels (digits are resized when not 28).")
    num_digits: int = _field(2, "Digits bouncing in each sequence.")
    seq_length: int = _field(20, "Frames generated per sequence.")
    step_length: float = _field(0.1, "Distance a digit moves per frame, as a fraction of the free range.")
    input_frames: int = _field(10, "Frames the encoder reads.")
    future_frames: int = _field(10, "Frames the future predictor outputs.")
    val_dataset: str = _field("generated", "Validation data: a fixed seeded generated set or a standard test file.",
                              VAL_DATASETS)
    val_path: str = _field("", "File for val_dataset=bouncing_mnist_test or mnist_test_seq.")
    val_sequences: int = _field(256, "Validation sequences used (the first N of the set).")

    # Model.
    model: str = _field("composite", "composite, autoencoder (reconstruction only) or future (prediction only).",
                        MODEL_TYPES)
    units: Tuple[int, ...] = _field((256,), "LSTM units per layer, comma separated (e.g. 2048,2048).")
    conditional_reconstruction: bool = _field(False, "Feed the reconstruction decoder the previous target frame.")
    conditional_future: bool = _field(False, "Feed the future predictor the previous frame (own output at inference).")
    peepholes: bool = _field(False, "Peephole connections from the cell state to the gates.")
    output: str = _field("sigmoid", "sigmoid + Bernoulli cross-entropy, or linear + 0.5*squared error.", OUTPUTS)
    initializer: str = _field("keras", "keras (Glorot/orthogonal) or original (U(+-0.01), peepholes U(+-0.1)).",
                              INITIALIZERS)

    # Training.
    batch_size: int = _field(16, "Global batch size (summed over all replicas).")
    train_steps: int = _field(1000, "Total optimizer steps; a resumed run continues up to this number.")
    optimizer: str = _field("adam", "Optimizer.", OPTIMIZERS)
    learning_rate: float = _field(1e-3, "Learning rate.")
    momentum: float = _field(0.9, "Momentum for sgd (and rmsprop).")
    clipnorm: float = _field(0.0, "Clip each gradient to this norm (0: off).")
    checkpoint_every: int = _field(500, "Steps between checkpoints.")
    keep_checkpoints: int = _field(3, "Checkpoints kept on disk.")
    summary_every: int = _field(50, "Steps between TensorBoard scalar summaries.")
    eval_every: int = _field(500, "Steps between validation runs (free-running and teacher-forced).")
    image_every: int = _field(500, "Steps between TensorBoard image strips.")
    export: bool = _field(True, "Write a SavedModel when training ends.")
    deterministic: bool = _field(False, "Deterministic TensorFlow ops: bitwise-reproducible runs and resumes, "
                                        "somewhat slower.")

    # Distribution.
    strategy: str = _field("default", "tf.distribute strategy.", STRATEGIES)
    cpu_replicas: int = _field(0, "Split the CPU into this many logical devices (mirrored without GPUs).")
    worker_timeout: int = _field(600, "multi_worker: seconds without progress before a worker gives up with an "
                                      "error (a peer never came or died).")

    @property
    def frame_shape(self):
        return (self.canvas_size, self.canvas_size)

    @property
    def frame_dim(self):
        return self.canvas_size * self.canvas_size

    @property
    def resolved_export_dir(self):
        return self.export_dir or os.path.join("saved_models", self.experiment)

    def validate(self):
        """Raises ConfigError naming the first setting that is out of range or contradicts another."""
        positive = ("canvas_size", "digit_size", "num_digits", "seq_length", "input_frames", "batch_size",
                    "train_steps", "checkpoint_every", "keep_checkpoints", "summary_every", "eval_every",
                    "image_every", "val_sequences")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"`{name}` must be a positive integer, got {value!r}")
        if self.future_frames < 0:
            raise ConfigError(f"`future_frames` must be >= 0, got {self.future_frames}")
        for field in dataclasses.fields(self):
            choices = field.metadata["choices"]
            if choices and getattr(self, field.name) not in choices:
                raise ConfigError(f"`{field.name}` must be one of {', '.join(choices)}, got "
                                  f"{getattr(self, field.name)!r}")
        if not self.units or any(int(u) <= 0 for u in self.units):
            raise ConfigError(f"`units` must be positive integers, got {','.join(map(str, self.units))!r}")
        if self.digit_size > self.canvas_size:
            raise ConfigError(f"`digit_size` ({self.digit_size}) must not exceed `canvas_size` ({self.canvas_size})")
        if self.input_frames + self.future_frames > self.seq_length:
            raise ConfigError(f"`input_frames` + `future_frames` ({self.input_frames} + {self.future_frames}) must "
                              f"not exceed `seq_length` ({self.seq_length})")
        if self.model in ("composite", "future") and self.future_frames == 0:
            raise ConfigError(f"`model`={self.model} predicts the future, so `future_frames` must be > 0")
        if self.learning_rate <= 0:
            raise ConfigError(f"`learning_rate` must be positive, got {self.learning_rate}")
        if self.step_length <= 0:
            raise ConfigError(f"`step_length` must be positive, got {self.step_length}")
        if self.worker_timeout <= 0:
            raise ConfigError(f"`worker_timeout` must be a positive number of seconds, got {self.worker_timeout}")
        if self.cpu_replicas < 0:
            raise ConfigError(f"`cpu_replicas` must be >= 0, got {self.cpu_replicas}")
        if self.val_dataset in ("bouncing_mnist_test", "mnist_test_seq") and not self.val_path:
            raise ConfigError(f"`val_dataset`={self.val_dataset} needs `val_path`")
        return self

    def architecture_changes(self, other):
        """`key: old -> new` for each setting that fixes the weights (ARCHITECTURE_KEYS) and differs in `other`."""
        return [f"{k}: {getattr(self, k)!r} -> {getattr(other, k)!r}" for k in ARCHITECTURE_KEYS
                if getattr(self, k) != getattr(other, k)]

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
        values = dict(values)
        if "units" in values:
            values["units"] = tuple(int(u) for u in values["units"])
        return cls(**values)

    def save(self, directory):
        """Writes config.json into `directory` atomically."""
        path = os.path.join(directory, CONFIG_FILE)
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, directory):
        path = os.path.join(directory, CONFIG_FILE)
        if not os.path.isfile(path):
            raise ConfigError(f"`model_dir` {directory!r} holds no {CONFIG_FILE}; was it written by vidrep-train?")
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


# The settings that fix the model's weights; a resumed run must agree with the saved config on all of them.
ARCHITECTURE_KEYS = ("canvas_size", "model", "units", "conditional_reconstruction", "conditional_future", "peepholes",
                     "output")
