"""TensorBoard summaries: one writer per split (train/, validation/) under the model directory."""
import time

import numpy as np
import tensorflow as tf
from tensorboard.plugins.image import metadata

from keras_vidrep import pictures
from keras_vidrep.runs.directory import SUMMARY_SPLITS


class SummaryWriters:
    """Scalar and image summaries for the `train` and `validation` splits.

    Args:
      run_dir: the run's `RunDir`; events go to its `train` and `validation` folders.
      enabled: False gives no-op writers (non-chief workers).
    """

    def __init__(self, run_dir, enabled=True):
        self._writers = {split: (tf.summary.create_file_writer(run_dir.summaries(split)) if enabled
                                 else tf.summary.create_noop_writer())
                         for split in SUMMARY_SPLITS}

    def scalars(self, split, step, values):
        """Writes each `name: value` of `values` as a scalar at `step`."""
        with self._writers[split].as_default(step=int(step)):
            for name, value in values.items():
                tf.summary.scalar(name, float(value))

    def images(self, split, step, name, images, description=None):
        """Writes grey (N, H, W) or colour (N, H, W, C) images in [0, 1] under `name`."""
        batch = np.asarray(images, np.float32)
        if batch.ndim == 3:
            batch = batch[..., None]
        with self._writers[split].as_default(step=int(step)):
            tf.summary.image(name, batch, max_outputs=len(batch), description=description)

    def animation(self, split, step, name, frames, description=None):
        """Writes frames (T, H, W[, C]) in [0, 1] as an animated GIF in TensorBoard's image format (the Images
        tab plays it)."""
        frames = np.asarray(frames)
        tensor = tf.constant([str(frames.shape[2]), str(frames.shape[1]), pictures.gif_bytes(frames, scale=1)])
        with self._writers[split].as_default(step=int(step)):
            tf.summary.write(name, tensor, metadata=metadata.create_summary_metadata(name, description))

    def picture(self, split, step, picture):
        """Writes a task's `Picture`."""
        if picture.kind == "images":
            self.images(split, step, picture.name, picture.data, picture.description)
        elif picture.kind == "animation":
            self.animation(split, step, picture.name, picture.data, picture.description)
        else:
            raise ValueError(f"picture kind must be images or animation, got {picture.kind!r}")

    def flush(self):
        for writer in self._writers.values():
            writer.flush()


class RunningMeans:
    """Averages of per-step losses since the last `pop()`, plus the steps per second over that window."""

    def __init__(self):
        self._sums, self._steps, self._start = {}, 0, time.perf_counter()

    def add(self, values):
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
        self._steps += 1

    def pop(self):
        elapsed = time.perf_counter() - self._start
        out = {(k if k == "gradient_norm" else f"loss/{k}"): v / self._steps for k, v in self._sums.items()}
        out["steps_per_second"] = self._steps / elapsed
        self._sums, self._steps, self._start = {}, 0, time.perf_counter()
        return out
