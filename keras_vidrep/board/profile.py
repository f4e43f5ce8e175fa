"""A Profiler trace of chosen training steps (`--profile_steps=START,END`) for TensorBoard's Profile tab.

The trace goes to `<model_dir>/plugins/profile/<time>/` (`*.xplane.pb`), where the tab (`pip install
keras_vidrep[profile]`, the `tensorboard-plugin-profile` package) finds it for the run `.`; every step inside the
window is marked `train` with its number, so the trace viewer and the step-time summary show steps.
"""
import contextlib

import tensorflow as tf
from absl import logging

from keras_vidrep.settings import profile_window


class StepProfiler:
    """Starts the profiler before step START, marks each step, stops it after step END (or when training stops
    earlier: `close`)."""

    def __init__(self, logdir, steps, enabled=True):
        self.logdir, self.window = logdir, profile_window(steps) if enabled else None
        self.running = False

    @contextlib.contextmanager
    def step(self, number):
        if self.window and number == self.window[0] and not self.running:
            tf.profiler.experimental.start(self.logdir)
            self.running = True
        if not self.running:
            yield
            return
        with tf.profiler.experimental.Trace("train", step_num=number, _r=1):
            yield
        if number >= self.window[1]:
            self.close()

    def close(self):
        if self.running:
            tf.profiler.experimental.stop()
            self.running = False
            logging.info("profiled steps %d-%d: open TensorBoard's Profile tab on %s", *self.window, self.logdir)
