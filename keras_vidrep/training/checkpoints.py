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


def restore_latest(checkpoint, model_dir):
    """Restores the newest checkpoint in model_dir/checkpoints into `checkpoint`, if there is one.

    Every object of `checkpoint` must find its values, so a checkpoint of another model fails loudly.

    Returns:
      The restored checkpoint's path, or None.
    """
    path = tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if path:
        checkpoint.restore(path).assert_existing_objects_matched()
        logging.info("restored %s", path)
    return path
