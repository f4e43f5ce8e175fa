"""Labelled one-digit Bouncing MNIST for the classifier: each sequence's class is its digit, the direction it leaves
the last frame in (8 sectors) or its speed's bin; a fixed few-label training set or fresh sequences every step."""
import numpy as np

from keras_vidrep.data import factors, video_sequences
from keras_vidrep.data.bouncing import TRAIN_STREAM, VALIDATION_STREAM, BouncingMNIST
from keras_vidrep.data.digits import load_digit_labels, load_digits
from keras_vidrep.data.streams import PermutationWalk, batch_ids
from keras_vidrep.errors import ConfigError, DataError

LABELLED_DIGITS = ("sklearn", "mnist_npz", "tfds")  # digit sources with labels
LABELS = ("digit", "direction", "speed")


def digit_generator(settings, seed, split, digit_ids=None):
    """(generator of one-digit sequences of `clip_length` frames, labels of its digits) on a digit split."""
    if settings.digits not in LABELLED_DIGITS:
        raise ConfigError(f"`digits` must be one of {', '.join(LABELLED_DIGITS)} (labelled), got {settings.digits!r}")
    images = load_digits(settings.digits, split, settings.digits_path, settings.digit_size)
    labels = load_digit_labels(settings.digits, split, settings.digits_path)
    if digit_ids is not None:
        images, labels = images[digit_ids], labels[digit_ids]
    generator = BouncingMNIST(images, settings.canvas_size, 1, settings.clip_length, settings.step_length, seed=seed,
                              stream=TRAIN_STREAM if split == "train" else VALIDATION_STREAM,
                              speed_range=video_sequences.speed_range(settings))
    return generator, labels


def sequence_labels(settings, generator, digit_labels, ids):
    """The class (`label`) of one-digit sequences `ids` of `generator`: the digit's (`digit_labels` of its
    images), the direction sector it leaves the last frame in, or its speed's bin among `num_classes` equal bins
    of the speed range."""
    if settings.label == "digit":
        return digit_labels[generator.digit_indices(ids)[:, 0]]
    _, _, v_y, v_x = generator.trajectories(ids)
    v_y, v_x = v_y[:, 0, -1], v_x[:, 0, -1]
    if settings.label == "direction":
        return factors.direction_sector(v_y, v_x)
    low, high = generator.speed_range
    bins = np.floor((np.hypot(v_y, v_x) - low) / (high - low) * settings.num_classes)
    return np.clip(bins, 0, settings.num_classes - 1).astype(np.int64)


class LabelledDigitStream:
    """Training clips of one-digit Bouncing MNIST with their label (`sequence_labels`).

    With `labels_per_class` = K > 0 the labelled set is fixed, revisited in a fresh order every pass: for digit
    labels K digits of each class (a seeded choice), one sequence each; for motion labels the first K sequences of
    each class in a seeded order of sample ids. With 0 every step draws fresh sequences."""

    def __init__(self, settings, seed):
        all_labels = load_digit_labels(settings.digits, "train", settings.digits_path)
        chosen, self.sample_ids, k = None, None, settings.labels_per_class
        if k and settings.label == "digit":
            order = np.random.default_rng([seed, 7]).permutation(len(all_labels))
            chosen = np.concatenate([order[all_labels[order] == c][:k] for c in range(10)])
            if len(chosen) < 10 * k:
                raise DataError(f"`labels_per_class`={k}: some class has fewer digits")
        self.generator, self.labels = digit_generator(settings, seed, "train", chosen)
        self.settings = settings
        if k and settings.label != "digit":  # a pool of sequences, K of each class from it
            pool = np.random.default_rng([seed, 7]).permutation(100 * k * settings.num_classes)
            pool_labels = sequence_labels(settings, self.generator, self.labels, pool)
            picked = [pool[pool_labels == c][:k] for c in range(settings.num_classes)]
            if min(len(p) for p in picked) < k:
                raise DataError(f"`labels_per_class`={k}: some {settings.label} class is too rare to find {k}")
            self.sample_ids = np.sort(np.concatenate(picked))
        self.fixed = len(chosen) if chosen is not None else 0 if self.sample_ids is None else len(self.sample_ids)
        self._walk = PermutationWalk(self.fixed, seed, TRAIN_STREAM) if self.fixed else None
        self.clip_length = settings.clip_length

    def batch(self, step, batch_size, start=0, count=None):
        ids = batch_ids(step, batch_size, start, count)
        if self.fixed:  # sample ids 0..fixed-1 are the fixed labelled set (the digit walk's first pass)
            ids = self._walk.indices(ids)
            if self.sample_ids is not None:
                ids = self.sample_ids[ids]
        clips = self.generator.sequences(ids).reshape(len(ids), self.clip_length, -1)
        return clips, sequence_labels(self.settings, self.generator, self.labels, ids).astype(np.int32)


# Direction sectors (`factors.direction_sector`) named as the motion looks on screen: sector 0 is +x (right), sector 2
# is +y (down: rows grow downwards).
DIRECTION_NAMES = ("right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right")
assert len(DIRECTION_NAMES) == factors.SECTORS


def labelled_digit_names(settings):
    """The class names of labelled one-digit sequences: the digits, the directions of motion, or the speed bins."""
    if settings.label == "digit":
        return [str(k) for k in range(10)]
    if settings.label == "direction":
        return list(DIRECTION_NAMES)
    low, high = video_sequences.speed_range(settings)
    width = (high - low) / settings.num_classes
    return [f"speed {low + k * width:.3f}-{low + (k + 1) * width:.3f}" for k in range(settings.num_classes)]
