"""Digit images for Bouncing MNIST, as float32 arrays (N, size, size) in [0, 1].

Sources:
  * `sklearn` (default, no network): scikit-learn's bundled 1,797 handwritten 8x8 digits, upsampled to the 20x20
    box that MNIST digits occupy and centred on a 28x28 canvas like MNIST.
  * `mnist_h5`: the original `mnist.h5` (datasets `train` (50000, 784), `train_full` (60000, 784), `test`
    (10000, 784), float32 in [0, 1]).
  * `mnist_npz`: Keras's `mnist.npz` (`x_train` (60000, 28, 28), `x_test` (10000, 28, 28), uint8), from a path or
    the Keras cache (`~/.keras/datasets/mnist.npz`, or under `$KERAS_HOME`).
  * `tfds`: TFDS `mnist` (`image` (28, 28, 1) uint8), from a prepared TFDS data directory.
"""
import os

import cv2
import h5py
import numpy as np

from keras_vidrep.errors import DataError

MNIST_SIZE = 28
SOURCES = ("sklearn", "mnist_h5", "mnist_npz", "tfds")
SKLEARN_TEST_COUNT = 297  # the last 297 of the 1,797 sklearn digits are held out for validation
H5_SPLITS = {"train": "train", "train_full": "train_full", "test": "test", "validation": "test"}


def load_digits(source="sklearn", split="train", path="", size=MNIST_SIZE, tfds_data_dir=None):
    """Loads digit images.

    Args:
      source: one of `sklearn`, `mnist_h5`, `mnist_npz`, `tfds`.
      split: `train` or `test` (`mnist_h5` also accepts `train_full`).
      path: file for `mnist_h5` / `mnist_npz`; empty means the Keras cache for `mnist_npz`.
      size: output height and width; digits are resized with area/linear interpolation when not 28.
      tfds_data_dir: TFDS data directory for `tfds` (None: TFDS's default).

    Returns:
      float32 array (N, size, size) with values in [0, 1].
    """
    if split not in ("train", "test", "train_full"):
        raise DataError(f"`split` must be train, test or train_full, got {split!r}")
    if source == "sklearn":
        images = _sklearn_digits(split)
    elif source == "mnist_h5":
        images = _mnist_h5(path, split)
    elif source == "mnist_npz":
        images = _mnist_npz(path, split)
    elif source == "tfds":
        images = _tfds_mnist(split, tfds_data_dir)
    else:
        raise DataError(f"`digits` must be one of {', '.join(SOURCES)}, got {source!r}")
    return resize_digits(images, size)


def load_digit_labels(source="sklearn", split="train", path="", tfds_data_dir=None):
    """The class (0-9) of each digit `load_digits` returns for the same arguments, int64 (N,).

    `mnist_h5` holds no labels: use `sklearn`, `mnist_npz` or `tfds` for labelled digits."""
    if source == "sklearn":
        from sklearn.datasets import load_digits as sklearn_load_digits

        labels = sklearn_load_digits().target
        return (labels[:-SKLEARN_TEST_COUNT] if split != "test" else labels[-SKLEARN_TEST_COUNT:]).astype(np.int64)
    if source == "mnist_npz":
        path = path or keras_cache_path()
        _require_file(path, "digits_path", "mnist.npz")
        key = "y_test" if split == "test" else "y_train"
        with np.load(path, allow_pickle=False) as f:
            if key not in f:
                raise DataError(f"{path}: no array {key!r} (has {', '.join(sorted(f.files))})")
            return f[key].astype(np.int64)
    if source == "tfds":
        import tensorflow_datasets as tfds

        ds = tfds.load("mnist", split="test" if split == "test" else "train", data_dir=tfds_data_dir)
        return np.asarray([int(ex["label"]) for ex in tfds.as_numpy(ds)], np.int64)
    raise DataError(f"`digits`={source} holds no labels; labelled digits come from sklearn, mnist_npz or tfds")


def resize_digits(images, size):
    """Resizes (N, H, W) images to (N, size, size), keeping values in [0, 1]."""
    if images.shape[1:] == (size, size):
        return images
    interpolation = cv2.INTER_AREA if size < images.shape[1] else cv2.INTER_LINEAR
    out = np.stack([cv2.resize(im, (size, size), interpolation=interpolation) for im in images])
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _sklearn_digits(split):
    from sklearn.datasets import load_digits as sklearn_load_digits

    raw = sklearn_load_digits().images.astype(np.float32) / 16.0  # (1797, 8, 8), values 0..16
    raw = raw[:-SKLEARN_TEST_COUNT] if split != "test" else raw[-SKLEARN_TEST_COUNT:]
    box = 20  # MNIST digits fit a 20x20 box centred in 28x28
    pad = (MNIST_SIZE - box) // 2
    out = np.zeros((len(raw), MNIST_SIZE, MNIST_SIZE), np.float32)
    for i, im in enumerate(raw):
        out[i, pad:pad + box, pad:pad + box] = cv2.resize(im, (box, box), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0)


def _mnist_h5(path, split):
    _require_file(path, "digits_path", "mnist.h5")
    key = H5_SPLITS[split]
    try:
        with h5py.File(path, "r") as f:
            if key not in f:
                raise DataError(f"{path}: no dataset {key!r} (has {', '.join(sorted(f.keys()))})")
            data = _mapped(path, f[key])
    except OSError as e:
        raise DataError(f"{path}: not a readable HDF5 file ({e})") from None
    if data.ndim != 2 or data.shape[1] != MNIST_SIZE * MNIST_SIZE:
        raise DataError(f"{path}:{key} must have shape (N, 784), got {data.shape}")
    return check_unit_range(data.reshape(-1, MNIST_SIZE, MNIST_SIZE), f"{path}:{key}")


def _mapped(path, dataset):
    """The dataset's values: memory-mapped from the file when stored plainly (contiguous little-endian float32, as
    the original mnist.h5 is), so that digits are read as sequences use them rather than all (157 MB) before the
    first step; otherwise read."""
    offset = dataset.id.get_offset()
    if offset is None or dataset.chunks is not None or dataset.dtype != np.dtype("<f4"):
        return dataset[()]
    return np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=dataset.shape)


def keras_cache_path(name="mnist.npz"):
    """Where keras.datasets caches a file: $KERAS_HOME/datasets or ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "datasets", name)


def _mnist_npz(path, split):
    path = path or keras_cache_path()
    _require_file(path, "digits_path", "mnist.npz (keras.datasets.mnist.load_data() caches it)")
    key = "x_test" if split == "test" else "x_train"
    try:
        with np.load(path, allow_pickle=False) as f:
            if key not in f:
                raise DataError(f"{path}: no array {key!r} (has {', '.join(sorted(f.files))})")
            data = f[key]
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None
    if data.ndim != 3 or data.shape[1:] != (MNIST_SIZE, MNIST_SIZE) or data.dtype != np.uint8:
        raise DataError(f"{path}:{key} must be uint8 (N, 28, 28), got {data.dtype} {data.shape}")
    return data.astype(np.float32) / 255.0


def _tfds_mnist(split, data_dir):
    import tensorflow_datasets as tfds

    try:
        ds = tfds.load("mnist", split="test" if split == "test" else "train", data_dir=data_dir)
    except Exception as e:  # TFDS raises many types when the data is absent and cannot be downloaded
        raise DataError(f"TFDS mnist could not be loaded ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    images = np.stack([np.asarray(ex["image"])[..., 0] for ex in tfds.as_numpy(ds)])
    return images.astype(np.float32) / 255.0


def _require_file(path, flag, what):
    if not path:
        raise DataError(f"`{flag}` is empty: give the path of {what}")
    if not os.path.isfile(path):
        raise DataError(f"`{flag}` {path!r}: no such file ({what})")


def check_unit_range(array, name):
    """Returns `array` as float32 after checking that it is finite and within [0, 1]."""
    array = np.asarray(array, dtype=np.float32)
    low, high = float(array.min(initial=0.0)), float(array.max(initial=0.0))  # NaN and inf reach these too
    if not (np.isfinite(low) and np.isfinite(high)):
        finite = np.isfinite(array)
        index = np.unravel_index(np.argmin(finite), array.shape)
        raise DataError(f"{name}: non-finite value at index {tuple(int(i) for i in index)}")
    if low < 0.0 or high > 1.0:
        raise DataError(f"{name}: values must lie in [0, 1], found [{low:g}, {high:g}]")
    return array
