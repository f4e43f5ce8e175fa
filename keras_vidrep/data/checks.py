"""Input checks made when a file is opened, before the first training step: a float array holds no NaN or Inf (and,
for images, lies in [0, 1]); a refusal names the file and the first bad index. Values are never rewritten to fit.

The scan reads the array in blocks of about 64 MB (numpy arrays, memory maps and h5py datasets alike), so memory
stays flat in the file's size; integer arrays (uint8 pixels) need no scan.
"""
import os
import secrets

import h5py
import numpy as np
from tqdm import tqdm

from keras_vidrep.errors import DataError

BLOCK_BYTES = 64 << 20
BAR_BYTES = 1 << 30  # files larger than this show a progress bar while they are checked


def check_values(array, path, what="value", unit_range=False):
    """DataError naming `path` and the first bad index if the float `array` holds a NaN or Inf or, with
    `unit_range`, a value outside [0, 1].

    Args:
      array: numpy array, memory map or h5py dataset; the first axis is scanned in blocks.
      path: the file, for the message (`path:dataset` for HDF5).
      what: what one value is, for the message ("frame value", "feature value").
      unit_range: also refuse values outside [0, 1] (float images).
    """
    if not np.issubdtype(array.dtype, np.floating) or not len(array):
        return
    row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize)
    rows = max(1, BLOCK_BYTES // row_bytes)
    starts = range(0, len(array), rows)
    if len(array) * row_bytes > BAR_BYTES:
        starts = tqdm(starts, desc=f"checking {path}", unit="block", dynamic_ncols=True, leave=False)
    for start in starts:
        block = np.asarray(array[start:start + rows])
        bad = ~np.isfinite(block)
        if bad.any():
            _refuse(path, what, block, bad, start, "NaN and Inf are refused; fix or drop those rows")
        if unit_range:
            low, high = block.min(), block.max()
            if low < 0.0 or high > 1.0:
                hint = "; these look like 0..255 pixels: divide by 255, or store uint8" if low >= 0 and high <= 255 \
                    else ""
                _refuse(path, what, block, (block < 0.0) | (block > 1.0), start,
                        f"float frames must lie in [0, 1]{hint}")


def _refuse(path, what, block, bad, start, advice):
    index = np.unravel_index(int(np.argmax(bad)), block.shape)
    value = float(block[index])
    index = (start + int(index[0]), *(int(i) for i in index[1:]))
    raise DataError(f"{path}: {what} {value:g} at index {index if len(index) > 1 else index[0]}: {advice}")


def check_output_path(output, flag="output"):
    """DataError unless a file can be written at `output`: its folder exists, it is not a folder, and a file can be
    made beside it (a probe file is created and removed), so that a run fails before its work, not after."""
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise DataError(f"`{flag}` {output!r}: folder {directory!r} does not exist")
    if os.path.isdir(output):
        raise DataError(f"`{flag}` {output!r} is a folder; give a file name such as "
                        f"{os.path.join(output, 'out.h5')!r}")
    probe = f"{output}.probe-{os.getpid()}"
    try:
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as e:
        raise DataError(f"`{flag}` {output!r} cannot be written ({e.strerror})") from None


def attempt_path(output):
    """A temporary name beside `output` for one attempt at writing it (pid and a random part): two attempts at the
    same file, such as a retried and a speculative copy of one Beam bundle, never write into each other's file;
    the finished file takes its name by one atomic rename."""
    return f"{output}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def check_replaceable(output, datasets, maker, flag="output"):
    """DataError unless `output` is missing or an HDF5 file this package wrote (it holds one of `datasets`, or is
    an index of shards), which a new run may replace; any other file is left as it is."""
    if not os.path.exists(output):
        return
    try:
        with h5py.File(output, "r") as f:
            ours = "vidrep_shards" in f.attrs or any(name in f for name in datasets)
    except OSError:
        ours = False
    if not ours:
        raise DataError(f"`{flag}` {output!r} exists and is not a file of {maker}; it is left as it is: remove it, "
                        f"or choose another output file")


# The command that writes each kind of input file, named when such a file is missing.
MAKERS = {
    "patches": "vidrep-preprocess --videos=VIDEOS/ --output=FILE.h5 --kind=patches --size=32 --seq_length=20",
    "frames": "vidrep-preprocess --videos=VIDEOS/ --output=FILE.h5 --kind=frames --size=64",
    "video_features": "vidrep-features --videos=VIDEOS/ --output=FILE.h5",
    "fc6": "vidrep-preprocess --videos=VIDEOS/ --output=FILE.h5 --kind=features --backbone=vgg16_fc6 (it writes "
           "FILE_num_frames.txt and FILE_labels.txt beside it)",
}


def require_file(path, flag, kind=None):
    """DataError unless `path` (the value of `flag`) is an existing file; the message names the command that makes
    a file of `kind` (a key of MAKERS)."""
    make = f"; make one with: {MAKERS[kind]}" if kind in MAKERS else ""
    if not path:
        raise DataError(f"`{flag}` is empty: give the file's path{make}")
    if os.path.isdir(path):
        raise DataError(f"`{flag}` {path!r} is a folder, not a file{make}")
    if not os.path.isfile(path):
        raise DataError(f"`{flag}` {path!r}: no such file{make}")
