"""Shared fixtures: small configs and small data files written in the original formats."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_vidrep.config import Config  # noqa: E402


# Prepended to scripts that load a SavedModel in a fresh interpreter: importing keras_vidrep fails there, so the
# SavedModel must stand on its own.
WITHOUT_PACKAGE = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "keras_vidrep":
            raise ImportError("keras_vidrep must not be needed to load the SavedModel")
sys.meta_path.insert(0, Block())
"""


@pytest.fixture
def tiny_config(tmp_path):
    """A config small enough to train a few steps in seconds: 32x32 canvas, 14-pixel digits, 32 units."""
    return Config(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "export"), canvas_size=32,
                  digit_size=14, units=(32,), batch_size=8, train_steps=6, checkpoint_every=3, summary_every=3,
                  eval_every=6, image_every=6, val_sequences=16, seed=3)


def write_mnist_h5(path, n_train=30, n_test=12):
    """An mnist.h5 like the original: float32 (N, 784) datasets train, train_full and test in [0, 1]."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["train"] = rng.random((n_train, 784), dtype=np.float32)
        f["train_full"] = rng.random((n_train + n_test, 784), dtype=np.float32)
        f["test"] = rng.random((n_test, 784), dtype=np.float32)
    return path


def write_mnist_npz(path, n_train=30, n_test=12):
    """A Keras mnist.npz: uint8 x_train (N, 28, 28), y_train, x_test, y_test."""
    rng = np.random.default_rng(1)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n_test, dtype=np.uint8))
    return path


def write_video(path, frames=30, width=48, height=40, fps=10):
    """An MJPG .avi: a red background (BGR (0, 0, 255)) with a white square moving right by 1 pixel a frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for t in range(frames):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:] = (0, 0, 255)
        frame[10:18, 5 + t:13 + t] = 255
        writer.write(frame)
    writer.release()
    return path
