"""vidrep-probe's labelled data, each a training part and a held-out part:

  * generated Bouncing MNIST, with the run's own rules (canvas, digit size, step length; optionally other
    `num_digits` and a speed range): the training part on the training digits, the held-out part on the held-out
    digits (another stream); factors at the last input frame (`keras_vidrep.data.factors`);
  * windows of a features file (a composite model of feature windows, `data=video_features`): factors `video`
    (which video, a class) and `time` (where the window starts, as a fraction of its video); every fifth block of
    windows of each video is held out, and no training window shares a frame with a held-out one, so both parts see
    every video but never the same frames.

Each has `read(part, ids)` (sequences of the encoder's input length), `factors(part)`, `kind(factor)` (class or
number), `counts` and `describe`.
"""
import numpy as np

from keras_vidrep.data import factors as factors_lib
from keras_vidrep.data import video_sequences
from keras_vidrep.data.digits import load_digit_labels
from keras_vidrep.errors import ConfigError, DataError

GENERATED = ("bouncing_mnist", "bouncing_digits")  # what composite/latent/VAE runs and classifiers generate
PARTS = ("train", "test")


class BouncingProbe:
    """Labelled Bouncing MNIST sequences: `read(part, ids)` (n, input_frames, H, W), `factors(part)`, `kind`."""

    def __init__(self, settings, input_frames, num_digits=1, ahead=(5,), spread=None, train=2000, test=1000,
                 seed=1234):
        if (data := getattr(settings, "data", "bouncing_mnist")) not in GENERATED:
            raise ConfigError(f"vidrep-probe reads runs of generated Bouncing MNIST or of feature windows; this "
                              f"run's `data` is {data!r}")
        self.input_frames, self.ahead, self.counts = input_frames, tuple(ahead), {"train": train, "test": test}
        self.generators, self.labels = {}, {}
        for part in PARTS:  # the training digits, and the held-out ("test") digits in the validation stream
            try:
                self.labels[part] = load_digit_labels(settings.digits, part, settings.digits_path)
            except DataError:  # mnist.h5 holds no labels: every factor but the digit's class
                self.labels[part] = None
            self.generators[part] = video_sequences.bouncing_generator(
                settings, seed, part, num_digits, input_frames + max(self.ahead, default=0), spread)
        self.describe = (f"{train} training and {test} held-out sequences (held-out digits), {num_digits} digit(s), "
                         f"the encoder reads {input_frames} frames")

    def read(self, part, ids):
        return self.generators[part].sequences(ids)[:, :self.input_frames]

    def factors(self, part):
        generator, labels = self.generators[part], self.labels[part]
        out = factors_lib.bouncing_factors(generator, labels if labels is not None else
                                           np.zeros(len(generator.digits), np.int64),
                                           np.arange(self.counts[part]), self.input_frames - 1, self.ahead)
        if labels is None:
            out = {k: v for k, v in out.items() if k.rstrip("0123456789") != "digit"}
        return out

    @staticmethod
    def kind(factor):
        return "class" if factors_lib.is_class(factor) else "number"


class WindowProbe:
    """Windows of a features file labelled by their video and time, from at most `max_videos` videos (an even
    spread of the file's). Held out: every fifth block of consecutive windows of a video (a block spans `length`
    frames of window starts); trained on: the windows that share no frame with any held-out one (at least `length`
    frames from each), so that no held-out window is a near-copy of a training one."""

    def __init__(self, file, length, standardize, stride=1, max_videos=20):
        self.file, self.length, self.standardize = file, length, standardize
        starts = file.window_starts(length, stride)
        videos = np.unique(file.video_of(starts))
        keep = videos[np.unique(np.linspace(0, len(videos) - 1, min(max_videos, len(videos))).round().astype(int))]
        starts = starts[np.isin(file.video_of(starts), keep)]
        video = file.video_of(starts)
        order = np.arange(len(starts)) - np.searchsorted(video, video)
        held = (order // -(-length // stride)) % 5 == 4
        self.starts = {"train": starts[~held & (self.gap_to(starts[held], starts, video) >= length)],
                       "test": starts[held]}
        self.counts = {part: len(v) for part, v in self.starts.items()}
        if min(self.counts.values()) == 0:
            raise DataError(f"`data_file` {file.path!r}: too few windows of {length} frames to hold out every fifth "
                            f"block of them with a gap")
        self.describe = (f"{self.counts['train']} training and {self.counts['test']} held-out windows of {length} "
                         f"frames (every fifth block of windows held out; no training window shares a frame with a "
                         f"held-out one) from {len(keep)} videos")

    def gap_to(self, held, starts, video):
        """For each window start of `starts` (of videos `video`), the frames to the nearest start of `held` in its
        own video (inf: none there)."""
        gap = np.full(len(starts), np.inf)
        if not len(held):
            return gap
        position = np.searchsorted(held, starts)
        for side in (position - 1, position):
            nearest = held[np.clip(side, 0, len(held) - 1)]
            same = (side >= 0) & (side < len(held)) & (self.file.video_of(nearest) == video)
            gap = np.where(same, np.minimum(gap, np.abs(starts - nearest)), gap)
        return gap

    def read(self, part, ids):
        return self.standardize(self.file.sequences(self.starts[part][np.asarray(ids)], self.length))

    def factors(self, part):
        starts = self.starts[part]
        video = self.file.video_of(starts)
        first, end = self.file.video_first[video], self.file.video_first[video + 1]
        return {"video": video.astype(np.int64), "time": (starts - first) / np.maximum(end - first - self.length, 1)}

    @staticmethod
    def kind(factor):
        return "class" if factor == "video" else "number"
