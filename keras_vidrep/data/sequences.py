"""Readers for fixed evaluation sets of video sequences, returned as float32 (N, T, H, W) in [0, 1].

  * `bouncing_mnist_test.npy`: uint8 (N, T, H, W), sequences first, e.g. (10000, 20, 64, 64).
  * `mnist_test_seq.npy` (the standard Moving MNIST test set): uint8 (T, N, H, W), time first, (20, 10000, 64, 64).
  * TFDS `moving_mnist`: `image_sequence` uint8 (20, 64, 64, 1), test split only.

Files are opened without pickle and memory-mapped, so `limit` reads only the sequences asked for.
"""
import os

import numpy as np

from keras_vidrep.errors import DataError

LAYOUTS = {"bouncing_mnist_test": "NTHW", "mnist_test_seq": "TNHW"}
NAMED_SETS = (*LAYOUTS, "tfds_moving_mnist")


def load_sequence_file(path, layout="NTHW", limit=None):
    """Reads a uint8 `.npy` file of sequences and scales it to [0, 1].

    Args:
      path: the `.npy` file.
      layout: `NTHW` (sequences first) or `TNHW` (time first).
      limit: read only the first `limit` sequences (None: all).

    Returns:
      float32 array (N, T, H, W) with values in [0, 1].
    """
    if layout not in ("NTHW", "TNHW"):
        raise DataError(f"`layout` must be NTHW or TNHW, got {layout!r}")
    if not os.path.isfile(path):
        raise DataError(f"{path!r}: no such file")
    try:
        raw = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None
    if raw.ndim != 4:
        raise DataError(f"{path}: expected a 4-d {layout} array, got shape {raw.shape}")
    if raw.dtype != np.uint8:
        raise DataError(f"{path}: expected dtype uint8 (pixel values 0..255), got {raw.dtype}")
    if layout == "TNHW":
        raw = raw[:, :limit] if limit else raw
        raw = np.transpose(raw, (1, 0, 2, 3))
    elif limit:
        raw = raw[:limit]
    return np.asarray(raw, dtype=np.float32) / 255.0


def load_bouncing_mnist_test(path, limit=None):
    """`bouncing_mnist_test.npy`: (N, T, H, W) uint8."""
    return load_sequence_file(path, LAYOUTS["bouncing_mnist_test"], limit)


def load_mnist_test_seq(path, limit=None):
    """`mnist_test_seq.npy`: (T, N, H, W) uint8, returned as (N, T, H, W)."""
    return load_sequence_file(path, LAYOUTS["mnist_test_seq"], limit)


def load_tfds_moving_mnist(limit=None, data_dir=None):
    """TFDS `moving_mnist` test split, (N, 20, 64, 64) in [0, 1]."""
    import tensorflow_datasets as tfds

    split = f"test[:{int(limit)}]" if limit else "test"
    try:
        ds = tfds.load("moving_mnist", split=split, data_dir=data_dir)
    except Exception as e:  # TFDS raises many types when the data is absent and cannot be downloaded
        raise DataError(f"TFDS moving_mnist could not be loaded ({type(e).__name__}: "
                        f"{str(e).splitlines()[0]})") from None
    frames = [np.asarray(ex["image_sequence"])[..., 0] for ex in tfds.as_numpy(ds)]
    if not frames:
        raise DataError("TFDS moving_mnist test split is empty")
    return np.stack(frames).astype(np.float32) / 255.0


def load_named(name, path="", limit=None, data_dir=None):
    """Loads one of the named evaluation sets: bouncing_mnist_test, mnist_test_seq or tfds_moving_mnist."""
    if name in LAYOUTS:
        return load_sequence_file(path, LAYOUTS[name], limit)
    if name == "tfds_moving_mnist":
        return load_tfds_moving_mnist(limit, data_dir)
    raise DataError(f"unknown sequence set {name!r}; expected one of {', '.join(NAMED_SETS)}")
