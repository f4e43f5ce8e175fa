"""Checkpoints through tf.train.CheckpointManager, numbered by the global step."""
import os

import tensorflow as tf
from absl import logging

CHECKPOINT_SUBDIR = "checkpoints"


def checkpoint_manager(model_dir, model, optimizer=None, step=None, max_to_keep=3):
    """A CheckpointManager over `model` (and the optimizer and step counter when given) in model_dir/checkpoints."""
    items = {"model": model}
    if optimizer is not None:
        items["optimizer"] = optimizer
    if step is not None:
        items["step"] = step
    checkpoint = tf.train.Checkpoint(**items)
    return tf.train.CheckpointManager(checkpoint, os.path.join(model_dir, CHECKPOINT_SUBDIR), max_to_keep)


def restore_latest(manager, expect_partial=False):
    """Restores the newest checkpoint if there is one; returns its path or None."""
    path = manager.latest_checkpoint
    if path:
        status = manager.checkpoint.restore(path)
        if expect_partial:
            status.expect_partial()
        else:
            status.assert_existing_objects_matched()
        logging.info("restored %s", path)
    return path
