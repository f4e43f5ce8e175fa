"""Whole-frame datasets: what `vidrep-preprocess --kind=frames` writes, read for frame models and their sequences.

An HDF5 file with `frames` uint8 (F, H, W, 3), `video_index` (F,) and optionally `frame_number` (F,) (the frame's
number in its video file), `videos` (names); or a `.npy` array (F, H, W[, C]) of one video (uint8 0-255, or floats
in [0, 1]). Frames of a video are stored consecutively and in order. The file is read into memory once (uint8).
"""
import os

import numpy as np

from keras_vidrep.errors import DataError

SPLITS = ("videos", "tail")  # how a validation part is held out


class FrameFile:
    """The frames of a frames file, as float32 (n, H, W, channels) in [0, 1].

    Args:
      path: the HDF5 or .npy file.
      channels: 1 (grey: the mean of the colour channels) or 3 (colour; grey frames are repeated).
    """

    def __init__(self, path, channels=3):
        if channels not in (1, 3):
            raise DataError(f"`channels` must be 1 or 3, got {channels!r}")
        if not os.path.isfile(path):
            raise DataError(f"`data_file` {path!r}: no such file")
        self.path, self.channels = path, channels
        if path.endswith(".npy"):
            self._load_npy(path)
        else:
            self._load_hdf5(path)
        if self.data.ndim == 3:
            self.data = self.data[..., None]
        if self.data.ndim != 4 or len(self.data) == 0:
            raise DataError(f"`data_file` {path!r}: expected frames (F, H, W[, C]), got shape {self.data.shape}")
        if len(self.video_index) != len(self.data) or np.any(np.diff(self.video_index) < 0):
            raise DataError(f"`data_file` {path!r}: `video_index` must give each frame's video, in order")
        self.frame_shape = (*self.data.shape[1:3], channels)
        starts = np.flatnonzero(np.r_[True, np.diff(self.video_index) != 0])
        self.video_rows = list(zip(starts, np.r_[starts[1:], len(self.data)]))  # (first row, end row) per video

    def _load_npy(self, path):
        try:
            data = np.load(path, mmap_mode="r")
        except ValueError as e:
            raise DataError(f"`data_file` {path!r} is not a readable .npy file ({e})") from None
        if data.dtype != np.uint8:
            data = np.clip(np.rint(np.asarray(data, np.float32) * 255.0), 0, 255)
        self.data = np.asarray(data, np.uint8)
        self.video_index = np.zeros(len(self.data), np.int64)
        self.frame_number = np.arange(len(self.data))
        self.videos = [os.path.basename(path)]

    def _load_hdf5(self, path):
        import h5py

        try:
            with h5py.File(path, "r") as f:
                if "frames" not in f:
                    raise DataError(f"`data_file` {path!r} has no dataset `frames` (datasets: {', '.join(f)}); "
                                    f"write one with vidrep-preprocess --kind=frames")
                self.data = f["frames"][...]
                self.video_index = f["video_index"][...] if "video_index" in f else np.zeros(len(self.data), int)
                self.frame_number = f["frame_number"][...] if "frame_number" in f else None
                count = int(self.video_index.max()) + 1 if len(self.video_index) else 0
                self.videos = ([v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][...]]
                               if "videos" in f else [f"video {i}" for i in range(count)])
        except OSError as e:
            raise DataError(f"`data_file` {path!r} is not a readable HDF5 file ({e})") from None
        if self.data.dtype != np.uint8:
            raise DataError(f"`data_file` {path!r}: `frames` must be uint8, got {self.data.dtype}")
        if self.frame_number is None:  # numbered within each video
            self.frame_number = np.arange(len(self.data)) - np.searchsorted(self.video_index, self.video_index)

    def __len__(self):
        return len(self.data)

    def images(self, rows):
        """Frames at `rows` (any integer array shape): float32 (*rows.shape, H, W, channels) in [0, 1]."""
        frames = self.data[np.asarray(rows)].astype(np.float32) / 255.0
        if frames.shape[-1] == self.channels:
            return frames
        if self.channels == 1:
            return frames.mean(axis=-1, keepdims=True)
        return np.repeat(frames, 3, axis=-1)

    def split(self, val_fraction, by="videos"):
        """(training rows, validation rows), holding out `val_fraction` of the data.

        Args:
          by: `videos` holds out the last videos (at least one; the last frames when there is only one video), for
            a model judged on videos it never saw; `tail` holds out the last frames of every video, for a model
            judged on unseen moments of the videos it embeds.
        """
        if not 0.0 < val_fraction < 1.0:
            raise DataError(f"`val_fraction` must be in (0, 1), got {val_fraction}")
        if by not in SPLITS:
            raise DataError(f"`val_split` must be one of {', '.join(SPLITS)}, got {by!r}")
        held = np.zeros(len(self.video_index), bool)
        if by == "videos" and len(self.video_rows) > 1:
            count = max(1, int(round(len(self.video_rows) * val_fraction)))
            held[self.video_rows[-count][0]:] = True
        else:
            for first, end in (self.video_rows if by == "tail" else [(0, len(held))]):
                held[end - max(1, int(round((end - first) * val_fraction))):end] = True
        if held.all():
            raise DataError(f"`data_file` {self.path!r} is too small to hold out a validation part")
        return np.flatnonzero(~held), np.flatnonzero(held)

    def windows(self, rows, length, skip=1):
        """Start rows of every window of `length` rows taken every `skip`-th row, all in `rows` and all of one
        video; the rows of window i are starts[i] + skip * arange(length)."""
        inside = np.zeros(len(self.video_index), bool)
        inside[np.asarray(rows)] = True
        span = (length - 1) * skip
        starts = np.arange(max(0, len(inside) - span))
        ok = self.video_index[starts] == self.video_index[starts + span]
        for k in range(length):
            ok &= inside[starts + k * skip]
        if not ok.any():
            raise DataError(f"`data_file` {self.path!r}: no video part has {length} frames at frame skip {skip}")
        return starts[ok]
