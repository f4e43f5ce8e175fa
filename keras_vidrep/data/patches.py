"""Sequences stored in files: the original UCF-101 patch `.npy` files, this package's HDF5 files, and sequences of
feature vectors.

  * Original `ucf101_sample_{train,valid}_patches.npy`: the first axis is the sequence; a row holds `seq_length`
    frames, each stored channel-first (C, H, W), as uint8 (scaled to [0, 1]) or float in [0, 1]. Rows may be flat
    (N, T*C*H*W), per frame (N, T, C*H*W) or unflattened (N, T, C, H, W).
  * HDF5 written by `vidrep-preprocess --kind=patches`: dataset `patches`, uint8 (N, T, H, W, C), channel-last.
  * Feature-vector sequences (frame shape (D,)): `.npy` float (N, T, D) or (N, T*D), or HDF5 dataset `sequences`
    (N, T, D); any finite real values, used as they are.

`SequenceFile` returns float32 (n, T, *frame_shape) — patches channel-last in [0, 1] — reading only the rows asked
for (the npy is memory-mapped, the HDF5 read by index), and `SequenceStream` turns it into an endless, seeded,
resumable stream of shuffled batches with the same `batch(step, batch_size, start, count)` interface as the
Bouncing MNIST generator.
"""

import numpy as np

from keras_vidrep.data.checks import check_values, require_file
from keras_vidrep.data.rows import take_rows
from keras_vidrep.data.shards import open_hdf5
from keras_vidrep.data.streams import ShuffledStream, spread
from keras_vidrep.errors import DataError

H5_PATCHES = "patches"
H5_SEQUENCES = "sequences"


class SequenceFile:
    """Random access to the sequences of a patch file.

    Args:
      path: an original patch `.npy` file, or an HDF5 file with a `patches` (images) or `sequences` (feature
        vectors) dataset.
      seq_length: frames per sequence (needed to read the flat rows of an npy file).
      frame_shape: (H, W, C) of an image frame, or (D,) of a feature vector.
      flag: the setting that named the file, for messages.
    """

    def __init__(self, path, seq_length=20, frame_shape=(32, 32, 3), flag="data_file"):
        self.path, self.flag = path, flag
        self.frame_shape = tuple(int(d) for d in frame_shape)
        self.seq_length = int(seq_length)
        self.vectors = len(self.frame_shape) == 1
        require_file(path, flag, "patches" if not self.vectors else None)
        if path.endswith((".h5", ".hdf5")):
            self._open_h5()
        else:
            self._open_npy()
        if len(self) == 0:
            raise DataError(f"{path}: holds no sequences")
        check_values(self._array, path, "feature value" if self.vectors else "pixel value",
                     unit_range=not self.vectors)

    def _open_npy(self):
        try:
            raw = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise DataError(f"{self.path}: not a readable .npy file ({e})") from None
        row = self.seq_length * int(np.prod(self.frame_shape))
        frame = "x".join(map(str, self.frame_shape if self.vectors else np.roll(self.frame_shape, 1)))
        if raw.ndim < 2 or int(np.prod(raw.shape[1:])) != row:
            raise DataError(f"{self.path}: each row must hold {self.seq_length} frames of {frame} = {row} "
                            f"values, but the file has shape {raw.shape} ({int(np.prod(raw.shape[1:]))} per row); "
                            f"check `seq_length` and " + ("`feature_dim`" if self.vectors else "`frame_size`"))
        self._check_dtype(raw.dtype)
        self._array, self._layout = raw, ("TD" if self.vectors else "TCHW")

    def _open_h5(self):
        self._file = open_hdf5(self.path, self.flag)
        key = H5_SEQUENCES if self.vectors else H5_PATCHES
        if key not in self._file:
            raise DataError(f"{self.path}: no dataset {key!r} (has {', '.join(sorted(self._file.keys()))})"
                            + ("" if self.vectors else "; write one with vidrep-preprocess --kind=patches"))
        data = self._file[key]
        if data.shape[2:] != self.frame_shape or data.shape[1] < self.seq_length:
            raise DataError(f"{self.path}:{key} has shape {data.shape}; expected (N, >={self.seq_length}, "
                            f"{', '.join(map(str, self.frame_shape))})")
        self._check_dtype(data.dtype)
        self._array, self._layout = data, "THWC"

    def _check_dtype(self, dtype):
        if self.vectors and not np.issubdtype(dtype, np.floating):
            raise DataError(f"{self.path}: expected float feature vectors, got {dtype}")
        if dtype != np.uint8 and not np.issubdtype(dtype, np.floating):
            raise DataError(f"{self.path}: expected uint8 pixels (0..255) or floats in [0, 1], got {dtype}")

    def __len__(self):
        return int(self._array.shape[0])

    def read(self, indices):
        """Sequences at `indices` (any order, repeats allowed): float32 (n, seq_length, H, W, C) in [0, 1]."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        raw = take_rows(self._array, indices)  # HDF5: one slice per run of rows, ~100x h5py's point selection
        if self._layout == "TCHW":
            h, w, c = self.frame_shape
            raw = raw.reshape(len(indices), self.seq_length, c, h, w).transpose(0, 1, 3, 4, 2)
        elif self._layout == "TD":
            raw = raw.reshape(len(indices), self.seq_length, *self.frame_shape)
        else:
            raw = raw[:, :self.seq_length]
        out = raw.astype(np.float32)  # float values were checked when the file was opened
        if raw.dtype == np.uint8:
            out /= 255.0
        return out

    def first(self, count=None):
        """The first `count` sequences (all when None), in file order."""
        return self.read(np.arange(len(self) if count is None else min(count, len(self))))

    def spread(self, count):
        """Up to `count` sequences spread evenly over the file (for estimates such as the mean frame)."""
        return self.read(spread(np.arange(len(self)), count))


class SequenceStream(ShuffledStream):
    """An endless stream of a `SequenceFile`'s sequences in a fresh random order every pass (see `ShuffledStream`).
    """

    def __init__(self, source, seed=0, stream=0):
        super().__init__(source.read, len(source), seed, stream)
        self.source = source
        self.frame_shape = source.frame_shape

    def own_shards(self, part, parts):
        """Keeps to the sequences in worker `part` of `parts`'s shards; False if the file is not sharded."""
        return self.keep_to_shards(getattr(self.source, "_file", None), part, parts)
