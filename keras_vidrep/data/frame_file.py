"""Per-frame datasets of many videos: rows in video order, each with its video and its frame number.

  * `FrameFile`: what `vidrep-preprocess --kind=frames` writes — HDF5 `frames` uint8 (F, H, W, 3), or a `.npy`
    array (F, H, W[, C]) of one video (uint8 0-255, or floats in [0, 1]).
  * `FeatureFile`: what `vidrep-features` writes — HDF5 `features` float32 (F, D).
Both HDF5 files hold `video_index` (F,), `frame_number` (F,) (the frame's number in its video file) and `videos`
(names). Rows of a video are consecutive and in order. Files stay on disk: rows are read when asked for (HDF5 by
slices, .npy through a memory map), so memory does not grow with the file.
"""
import os

import numpy as np

from keras_vidrep.data.bouncing import TRAIN_STREAM
from keras_vidrep.data.checks import check_values, require_file
from keras_vidrep.data.rows import Runs, mean_and_std, take_rows
from keras_vidrep.data.shards import open_hdf5, owned_items
from keras_vidrep.data.streams import PermutationWalk, batch_ids, spread
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.errors import DataError

SPLITS = ("videos", "tail")  # how a validation part is held out


class VideoRows:
    """The row index of a per-frame file, a few numbers per video whatever the number of rows: `video_first`
    (V + 1,) the first row of each video and the row count, `videos` (names), the frame numbers read from the file
    when asked for; held-out splits and windows that never cross videos, as `Runs` (one run per video).
    Subclasses load `data` and `read` rows."""

    path = ""
    _frame_numbers = None  # the file's `frame_number` dataset, if it has one

    def _index(self, count, f=None):
        """Builds the index of `count` rows from the open HDF5 file `f`'s `counts` (per video) or, in a file
        without them, its `video_index` (per row); without either, or without `f`, one video."""
        if f is not None and "counts" in f:
            counts = np.asarray(f["counts"][...], np.int64)
            if counts.sum() > count or (counts < 0).any():
                raise DataError(f"`data_file` {self.path!r}: `counts` add up to {counts.sum()} rows, but the file "
                                f"holds {count}")
            count = int(counts.sum())  # rows past them: a video cut off while being written
        elif f is not None and "video_index" in f:
            video_index = np.asarray(f["video_index"][:count], np.int64)
            if len(video_index) != count or np.any(np.diff(video_index) < 0) or (video_index < 0).any():
                raise DataError(f"`data_file` {self.path!r}: `video_index` must give each row's video, in order")
            counts = np.bincount(video_index, minlength=int(video_index.max()) + 1 if count else 0)
        else:
            counts = np.array([count], np.int64)
        self.video_first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if f is not None and "frame_number" in f:
            self._frame_numbers = f["frame_number"]
        if f is not None and "videos" in f:
            self.videos = [v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][...]]
        elif not getattr(self, "videos", None):
            self.videos = [f"video {i}" for i in range(len(counts))]
        if len(self.videos) != len(counts):
            raise DataError(f"`data_file` {self.path!r} names {len(self.videos)} videos but indexes {len(counts)}")

    def __len__(self):
        return int(self.video_first[-1])

    def video_of(self, rows):
        """The video number of each row (any integer array shape)."""
        return np.searchsorted(self.video_first, np.asarray(rows, np.int64), side="right") - 1

    def frame_numbers(self, rows):
        """The number of each row's frame in its video file (any integer array shape)."""
        rows = np.asarray(rows, np.int64)
        if self._frame_numbers is not None:
            return take_rows(self._frame_numbers, rows).astype(np.int64)
        return rows - self.video_first[self.video_of(rows)]

    def video_runs(self):
        """Every video's rows, one run each."""
        return Runs(self.video_first[:-1], np.diff(self.video_first))

    def split(self, val_fraction, by="videos"):
        """(training rows, validation rows) as `Runs` (one run per video), holding out `val_fraction` of the data.

        Args:
          by: `videos` holds out the last videos (at least one; the last frames when there is only one video), for
            a model judged on videos it never saw; `tail` holds out the last frames of every video, for a model
            judged on unseen moments of the videos it embeds.
        """
        if not 0.0 < val_fraction < 1.0:
            raise DataError(f"`val_fraction` must be in (0, 1), got {val_fraction}")
        if by not in SPLITS:
            raise DataError(f"`val_split` must be one of {', '.join(SPLITS)}, got {by!r}")
        first, counts = self.video_first[:-1], np.diff(self.video_first)
        if by == "videos" and len(counts) > 1:
            held, last = np.zeros(len(counts), np.int64), len(counts) - max(1, int(round(len(counts) * val_fraction)))
            held[last:] = counts[last:]
        elif by == "tail":
            held = np.minimum(counts, np.maximum(1, np.round(counts * val_fraction).astype(np.int64)))
        else:  # one video held out by its last frames
            first, counts = first[:1], np.array([len(self)], np.int64)
            held = np.array([min(len(self), max(1, int(round(len(self) * val_fraction))))], np.int64)
        if (counts - held).sum() == 0:
            raise DataError(f"`data_file` {self.path!r} is too small to hold out a validation part")
        return Runs(first, counts - held), Runs(first + counts - held, held)

    def windows(self, rows, length, skip=1):
        """The start rows of every window of `length` rows taken every `skip`-th row inside the runs `rows` (each
        inside one video, as `split` gives them), as `Runs`; the rows of window i are start + skip * arange(length).
        """
        span = (length - 1) * skip
        starts = Runs(rows.first, rows.count - span)
        if not len(starts):
            raise DataError(f"`data_file` {self.path!r}: no video part has {length} rows at frame skip {skip}")
        return starts

    def window_starts(self, length, stride=1, skip=1):
        """Start rows of every `stride`-th window of `length` rows over the whole file, as one array (for tools
        that visit every window)."""
        return self.windows(self.video_runs(), length, skip).values()[::stride]

    def sequences(self, starts, length, skip=1):
        """The windows at `starts`: (n, length, *row shape)."""
        return self.read(np.asarray(starts)[:, None] + skip * np.arange(length))


class FrameFile(VideoRows):
    """The frames of a frames file, read as float32 (n, H, W, channels) in [0, 1].

    Args:
      path: the HDF5 or .npy file.
      channels: 1 (grey: the mean of the colour channels) or 3 (colour; grey frames are repeated).
    """

    DATASET = "frames"

    def __init__(self, path, channels=3):
        if channels not in (1, 3):
            raise DataError(f"`channels` must be 1 or 3, got {channels!r}")
        require_file(path, "data_file", "frames")
        self.path, self.channels = path, channels
        if path.endswith(".npy"):
            self._open_npy(path)
        else:
            self._file = open_hdf5(path)
            if self.DATASET not in self._file:
                raise DataError(f"`data_file` {path!r} has no dataset `frames` (datasets: {', '.join(self._file)}); "
                                f"write one with vidrep-preprocess --kind=frames")
            self.data = self._file[self.DATASET]
            if self.data.dtype != np.uint8:
                raise DataError(f"`data_file` {path!r}: `frames` must be uint8, got {self.data.dtype}")
        if self.data.ndim not in (3, 4) or len(self.data) == 0:
            raise DataError(f"`data_file` {path!r}: expected frames (F, H, W[, C]), got shape {self.data.shape}")
        self._index(len(self.data), getattr(self, "_file", None))
        self.frame_shape = (*self.data.shape[1:3], channels)

    def _open_npy(self, path):
        try:
            data = np.load(path, mmap_mode="r")
        except ValueError as e:
            raise DataError(f"`data_file` {path!r} is not a readable .npy file ({e})") from None
        if data.dtype != np.uint8:
            if not np.issubdtype(data.dtype, np.floating):
                raise DataError(f"`data_file` {path!r}: frames must be uint8 (0..255) or floats in [0, 1], got "
                                f"{data.dtype}")
            check_values(data, path, "frame value", unit_range=True)
        self.data = data
        self.videos = [os.path.basename(path)]

    def read(self, rows):
        """Frames at `rows` (any integer array shape): float32 (*rows.shape, H, W, channels) in [0, 1]."""
        raw = take_rows(self.data, rows)
        if self.data.dtype == np.uint8:
            frames = raw.astype(np.float32) / 255.0
        else:  # float frames in [0, 1], read as 8-bit pixels like those of a uint8 file
            frames = np.rint(raw.astype(np.float32) * 255.0) / 255.0
        if self.data.ndim == 3:
            frames = frames[..., None]
        if frames.shape[-1] == self.channels:
            return frames
        if self.channels == 1:
            return frames.mean(axis=-1, keepdims=True)
        return np.repeat(frames, 3, axis=-1)


class FeatureFile(VideoRows):
    """The per-frame feature vectors of a features file (`vidrep-features`), read as float32 (n, D)."""

    DATASET = "features"

    def __init__(self, path):
        require_file(path, "data_file", "video_features")
        self.path = path
        self._file = open_hdf5(path)
        if self.DATASET not in self._file:
            raise DataError(f"`data_file` {path!r} has no dataset `features` (datasets: {', '.join(self._file)}); "
                            f"write one with vidrep-features")
        self.data = self._file[self.DATASET]
        if self.data.ndim != 2 or len(self.data) == 0:
            raise DataError(f"`data_file` {path!r}: expected features (F, D), got shape {self.data.shape}")
        self._index(len(self.data), self._file)
        check_values(self.data, f"{path}:{self.DATASET}", "feature value")  # block by block
        self.dim = int(self.data.shape[1])

    def read(self, rows):
        return take_rows(self.data, rows).astype(np.float32, copy=False)


class WindowStream:
    """Windows of `length` rows (every `skip`-th) of a per-frame file that never cross videos: the training part
    walked in a fresh random order every pass, and a fixed, evenly spread choice of the held-out part.

    Args:
      file: a `FrameFile` or `FeatureFile`.
      val_fraction, val_split: how the held-out part is chosen (see `VideoRows.split`).
      standardize: give every value in units of the training rows' mean and standard deviation.
      standardization: (mean, std) to standardize with instead of measuring them (those a run stored).
    """

    def __init__(self, file, length, seed, val_fraction, val_split, skip=1, standardize=False, standardization=None):
        self.file, self.length, self.skip = file, length, skip
        train_rows, val_rows = file.split(val_fraction, val_split)
        self.train_starts = self.all_train_starts = file.windows(train_rows, length, skip)
        self.val_starts = file.windows(val_rows, length, skip)
        self.walk = PermutationWalk(len(self.train_starts), seed, TRAIN_STREAM)
        self.owner = None  # (part, parts) once it keeps to a worker's shards
        self.standardization = None
        if standardize and standardization is not None:
            mean, std = (np.asarray(v, np.float32).reshape(file.data.shape[1:]) for v in standardization)
            self.standardization = mean, std
        elif standardize:  # per value: the training rows' mean and standard deviation, read block by block
            mean, std = mean_and_std(file.data, train_rows)
            self.standardization = mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)

    def own_shards(self, part, parts):
        """Keeps the training windows to worker `part` of `parts`'s equal share of a sharded file (see
        keras_vidrep.data.shards.owned_items); False if the file is not sharded. (The held-out windows and the
        standardization stay those of the whole file.)"""
        owned = owned_items(getattr(self.file, "_file", None), len(self.all_train_starts), part, parts)
        if owned is None:
            return False
        self.train_starts, self.owner = self.all_train_starts.select(*owned), (part, parts)
        self.walk = PermutationWalk(len(self.train_starts), self.walk.seed, self.walk.stream)
        return True

    def standardize(self, values):
        """`values` (..., *row shape) in the units the model reads (unchanged without standardization)."""
        if self.standardization is None:
            return values
        shift, scale = self.standardization
        return (values - shift) / scale

    def sequences(self, ids):
        """Training windows at stream positions `ids`: (n, length, *row shape)."""
        return self.standardize(self.file.sequences(self.train_starts[self.walk.indices(ids)], self.length,
                                                    self.skip))

    def batch(self, step, global_batch_size, start=0, count=None):
        return self.sequences(batch_ids(step, global_batch_size, start, count, self.owner))

    def validation_set(self, count):
        """`count` held-out windows (fewer if there are fewer), evenly spread, as a `ValidationSet` read from the
        file when asked."""
        starts = spread(self.val_starts, count)
        return ValidationSet(lambda ids: self.standardize(self.file.sequences(starts[np.asarray(ids)], self.length,
                                                                              self.skip)), len(starts))

