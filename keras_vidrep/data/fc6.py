"""Per-frame CNN features of labelled videos in the original format, cut into fixed-length clips.

The original format (VGG fc6 "percepts" of UCF-101):
  * an HDF5 file with dataset `hidden6`, (total_frames, D) — the frames of all videos stacked, in video order;
  * `*_num_frames.txt`: one integer per line, the frames of each video, in the same order;
  * `*_labels.txt`: one integer label per line, per video.

A clip is a window of `clip_length` consecutive frames inside one video (never across two), at every start frame
(stride 1, or `stride` for a thinner validation set). Videos shorter than one clip give none; they are listed in
`short_videos`, so that a video accuracy can count them (as misclassified) rather than drop them.
"""

import os

import numpy as np

from keras_vidrep.data.checks import check_values, require_file
from keras_vidrep.data.rows import Runs, take_rows
from keras_vidrep.data.shards import open_hdf5
from keras_vidrep.data.streams import ShuffledStream
from keras_vidrep.errors import DataError

FEATURES_KEY = "hidden6"


def read_integers(path, flag):
    """One integer per line (blank lines ignored), as int64; DataError naming the file and line otherwise."""
    require_file(path, flag, "fc6")
    values = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    values.append(int(line.split()[0]))
                except ValueError:
                    raise DataError(f"{path}:{number}: expected an integer, got {line.strip()!r}") from None
    return np.asarray(values, np.int64)


class FeatureClips:
    """The clips of a feature file.

    Args:
      data_file, num_frames_file, labels_file: the three files of the original format.
      clip_length: frames per clip.
      stride: frames between the starts of consecutive clips of a video.
      flag: the setting that named `data_file`, for messages.
    """

    def __init__(self, data_file, num_frames_file, labels_file, clip_length=16, stride=1, flag="data_file"):
        require_file(data_file, flag, "fc6")
        self._file = open_hdf5(data_file, flag)
        if FEATURES_KEY not in self._file:
            raise DataError(f"{data_file}: no dataset {FEATURES_KEY!r} (has {', '.join(sorted(self._file.keys()))})")
        self.features = self._file[FEATURES_KEY]
        if self.features.ndim != 2:
            raise DataError(f"{data_file}:{FEATURES_KEY} must be (frames, features), got shape {self.features.shape}")
        check_values(self.features, f"{data_file}:{FEATURES_KEY}", "feature value")
        prefix = flag[:-len("data_file")]  # "" or "val_"
        self.num_frames = read_integers(num_frames_file, f"{prefix}num_frames_file")
        self.labels = read_integers(labels_file, f"{prefix}labels_file")
        if len(self.num_frames) != len(self.labels):
            raise DataError(f"{num_frames_file} lists {len(self.num_frames)} videos but {labels_file} has "
                            f"{len(self.labels)} labels")
        total = int(self.num_frames.sum())
        if total != self.features.shape[0]:
            raise DataError(f"{num_frames_file} adds up to {total} frames but {data_file}:{FEATURES_KEY} holds "
                            f"{self.features.shape[0]}")
        if (self.num_frames < 0).any() or (self.labels < 0).any():
            raise DataError(f"{num_frames_file} / {labels_file}: negative frame counts or labels")
        self.clip_length, self.feature_dim = int(clip_length), int(self.features.shape[1])
        first = np.concatenate([[0], np.cumsum(self.num_frames)[:-1]])
        # The clips' first rows, one run per video (a video too short for a clip has an empty run): the clip
        # index stays a few numbers per video at any size.
        self.starts = Runs(first, -(-(self.num_frames - self.clip_length + 1) // stride), stride)
        self.short_videos = np.flatnonzero(self.num_frames < self.clip_length)
        if not len(self.starts):
            raise DataError(f"{num_frames_file}: no video has the {self.clip_length} frames of one clip")

    def __len__(self):
        return len(self.starts)

    def clips(self, clip_ids):
        """(features (n, clip_length, D) float32, labels (n,) int32) of the given clips."""
        clip_ids = np.asarray(clip_ids, np.int64).reshape(-1)
        rows = self.starts[clip_ids][:, None] + np.arange(self.clip_length)  # overlapping clips read once
        features = take_rows(self.features, rows).astype(np.float32, copy=False)
        return features, self.labels[self.video_of(clip_ids)].astype(np.int32)

    def video_of(self, clip_ids):
        """The video of each clip (any integer array shape)."""
        return self.starts.run_of(clip_ids)


class ClipStream(ShuffledStream):
    """An endless stream of a `FeatureClips`'s (clips, labels) in a fresh random order every pass."""

    def __init__(self, source, seed=0, stream=0):
        super().__init__(source.clips, len(source), seed, stream)
        self.source = source

    def own_shards(self, part, parts):
        """Keeps to the clips in worker `part` of `parts`'s shards; False if the file is not sharded."""
        return self.keep_to_shards(self.source._file, part, parts)


def read_class_names(path, num_classes, flag="class_names_file"):
    """The names of classes 0 .. num_classes-1 from `path`: one name a line in label order (what vidrep-preprocess
    writes as `<output>_classes.txt`), or UCF-101's `classInd.txt` (`<number> <name>` a line, numbered from 1 or 0).
    DataError names the file when it does not give exactly `num_classes` names."""
    require_file(path, flag)
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    numbered = [line.split(None, 1) for line in lines]
    if lines and all(len(parts) == 2 and parts[0].isdigit() for parts in numbered):
        numbers = sorted(int(parts[0]) for parts in numbered)
        first = numbers[0]
        if numbers != list(range(first, first + len(numbers))) or first not in (0, 1):
            raise DataError(f"`{flag}` {path!r}: numbered classes must run 1..N (classInd.txt) or 0..N-1, got "
                            f"{numbers[:3]}...")
        names = [name for _, name in sorted(((int(n), name) for n, name in numbered))]
    else:
        names = lines
    if len(names) != num_classes:
        raise DataError(f"`{flag}` {path!r} names {len(names)} classes, but `num_classes` is {num_classes}")
    return names


def classes_file_beside(labels_file):
    """`<prefix>_classes.txt` beside a `<prefix>_labels.txt` (as vidrep-preprocess writes them), if it exists."""
    if labels_file and labels_file.endswith("_labels.txt"):
        path = labels_file[:-len("_labels.txt")] + "_classes.txt"
        if os.path.isfile(path):
            return path
    return ""
