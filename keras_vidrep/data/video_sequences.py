"""Frame sequences for the video tasks: their sources, and the one convention for splitting and flattening them.

A sequence array is (N, T, *frame_shape) float32, where a frame is (H, W) grey or (H, W, C) colour with values in
[0, 1], or (D,) a feature vector of real values. Models read frames flattened: (N, T, prod(frame_shape)).
"""
import dataclasses

import numpy as np

from keras_vidrep.data import sequences
from keras_vidrep.data.bouncing import TRAIN_STREAM, VALIDATION_STREAM, BouncingMNIST
from keras_vidrep.data.digits import SOURCES as DIGIT_SOURCES
from keras_vidrep.data.digits import load_digits
from keras_vidrep.data.frame_file import FeatureFile, WindowStream
from keras_vidrep.data.patches import SequenceFile, SequenceStream
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.settings import refuse_unread, setting

FILE_SETS = ("patches", "features")  # sequence files of images / of feature vectors (`SequenceFile`)
VIDEO_FEATURES = "video_features"  # per-frame features of whole videos (`FeatureFile`), cut into windows
SEQUENCE_SETS = ("generated", *sequences.NAMED_SETS, *FILE_SETS)  # every set a video model is validated on


@dataclasses.dataclass
class DigitSettings:
    """How digits bounce on a canvas (settings shared by every task that generates Bouncing MNIST; flag names)."""

    digits: str = setting("sklearn", "Digit images: bundled sklearn digits, mnist.h5, Keras mnist.npz or TFDS "
                                     "mnist.", DIGIT_SOURCES)
    digits_path: str = setting("", "Path of mnist.h5 / mnist.npz (empty: the Keras cache for mnist_npz).")
    canvas_size: int = setting(64, "Bouncing MNIST: height and width of the square canvas in pixels.")
    digit_size: int = setting(28, "Bouncing MNIST: digit height and width in pixels (resized when not 28).")
    step_length: float = setting(0.1, "Bouncing MNIST: distance a digit moves per frame, as a fraction of the free "
                                      "range.")
    speed_spread: float = setting(0.0, "Bouncing MNIST: each digit's speed drawn uniformly from step_length x "
                                       "[1 - spread, 1 + spread] (0: the original rules, one speed).")


@dataclasses.dataclass
class BouncingSettings(DigitSettings):
    """How Bouncing MNIST is generated for the video models (flag names)."""

    num_digits: int = setting(2, "Bouncing MNIST: digits bouncing in each sequence.")


def check_digits_path(settings):
    """ConfigError if `digits_path` is given with a digit source that does not read a file."""
    if settings.digits not in ("mnist_h5", "mnist_npz"):
        refuse_unread(settings, ("digits_path",), f"`digits`={settings.digits}")


def speed_range(settings, spread=None):
    """The (low, high) step lengths of `speed_spread` (or `spread`), or None for the original rules' one speed."""
    spread = settings.speed_spread if spread is None else spread
    if not 0.0 <= spread < 1.0:
        raise ConfigError(f"`speed_spread` must be in [0, 1), got {spread}")
    return (settings.step_length * (1 - spread), settings.step_length * (1 + spread)) if spread else None


def bouncing_generator(settings, seed, split="train", num_digits=None, seq_length=None, spread=None):
    """The Bouncing MNIST generator the settings describe, on the train or held-out (test) digits (`spread`: another
    `speed_spread` than the settings')."""
    digits = load_digits(settings.digits, split, settings.digits_path, settings.digit_size)
    return BouncingMNIST(digits, settings.canvas_size, num_digits or settings.num_digits,
                         seq_length or settings.seq_length, settings.step_length, seed=seed,
                         stream=TRAIN_STREAM if split == "train" else VALIDATION_STREAM,
                         speed_range=speed_range(settings, spread))


def feature_windows(settings, seed, standardization=None):
    """The WindowStream of a features file (`vidrep-features`) that `data=video_features` trains on;
    `standardization`: the (mean, std) a run stored, used instead of measuring the file again."""
    file = FeatureFile(settings.data_file)
    if file.dim != settings.feature_dim:
        raise DataError(f"`data_file` {settings.data_file!r} holds {file.dim}-d features, but `feature_dim` is "
                        f"{settings.feature_dim}")
    return WindowStream(file, settings.seq_length, seed, settings.val_fraction, settings.val_split,
                        standardize=settings.standardize, standardization=standardization)


def training_source(settings, seed, standardization=None):
    """An endless training stream with `batch(step, batch_size, start, count)` and `sequences(ids)`
    (`standardization`: see `feature_windows`)."""
    if settings.data == VIDEO_FEATURES:
        return feature_windows(settings, seed, standardization)
    if settings.data == "bouncing_mnist":
        return bouncing_generator(settings, seed, "train")
    if settings.data in FILE_SETS:
        return SequenceStream(SequenceFile(settings.data_file, settings.seq_length, settings.frame_shape), seed,
                              TRAIN_STREAM)
    raise ConfigError(f"`data` must be bouncing_mnist, patches or features, got {settings.data!r}")


def sequence_set(name, settings, seed, count, path="", flag="val_path", length=None, frame_shape=None,
                 num_digits=None):
    """The fixed sequence set `name` as a `ValidationSet` of sequences (n, >= length, *frame_shape), opened but not
    read: files are read and Bouncing MNIST drawn when asked, so a set of any size is never whole in memory; a
    named benchmark (a fixed-size file or TFDS set) is loaded up to `count`. The one way from a set's name to its
    reader, for a run's validation and for vidrep-eval alike.

    Args:
      name: one of SEQUENCE_SETS (`generated`: Bouncing MNIST of the held-out digits with the settings' rules).
      settings: the frame data settings (digits, canvas, frame shape, sequence length).
      seed: the seed of a generated set.
      count: the number of sequences (at most; a file may hold fewer).
      path: the file of a file set or a named benchmark (flag `flag`).
      length, frame_shape, num_digits: instead of the settings' own.
    """
    if name == "generated":
        return ValidationSet(bouncing_generator(settings, seed, "test", num_digits, length).sequences, count)
    if name in FILE_SETS:
        file = SequenceFile(path, length or settings.seq_length, frame_shape or settings.frame_shape, flag=flag)
        return ValidationSet(file.read, min(count, len(file)))
    return ValidationSet.of_arrays(sequences.load_named(name, path, limit=count))


def validation_set(settings, seed, source=None):
    """The fixed validation set the settings name (`val_dataset`, `val_path`, `val_sequences`; see
    `sequence_set`). `data=video_features` holds out a part of its training file: `source` is that file's stream
    if already open."""
    if settings.data == VIDEO_FEATURES:
        return (source or feature_windows(settings, seed)).validation_set(settings.val_sequences)
    return sequence_set(settings.val_dataset, settings, seed, settings.val_sequences, settings.val_path)


def check_frames(data, frame_shape, what, min_length=0):
    """Returns `data` after checking that its frames are `frame_shape` and its sequences long enough."""
    data = np.asarray(data)
    if data.ndim < 3 or tuple(data.shape[2:]) != tuple(frame_shape):
        raise DataError(f"{what} has frames of shape {tuple(data.shape[2:])}, but the model reads frames of "
                        f"{tuple(frame_shape)}")
    if data.shape[1] < min_length:
        raise DataError(f"{what} has {data.shape[1]} frames per sequence, fewer than the {min_length} that input "
                        f"+ future frames need")
    return data


def flatten(sequence_batch):
    """(N, T, *frame_shape) → (N, T, D) float32."""
    batch = np.asarray(sequence_batch, np.float32)
    return batch.reshape(batch.shape[0], batch.shape[1], -1)


def unflatten(flat, frame_shape):
    """(N, T, D) → (N, T, *frame_shape)."""
    flat = np.asarray(flat)
    return flat.reshape(flat.shape[0], flat.shape[1], *frame_shape)


def split_frames(sequence_batch, input_frames, future_frames):
    """(N, T, *frame_shape) → inputs (N, input_frames, D) and futures (N, future_frames, D), float32."""
    batch = flatten(sequence_batch)
    if batch.shape[1] < input_frames + future_frames:
        raise ConfigError(f"sequences have {batch.shape[1]} frames, fewer than `input_frames` + `future_frames` "
                          f"= {input_frames + future_frames}")
    return batch[:, :input_frames], batch[:, input_frames:input_frames + future_frames]
