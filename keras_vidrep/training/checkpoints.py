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


def restore_model(model_dir, checkpoint=""):
    """Rebuilds the model of `model_dir` from its config.json and restores its weights (no optimizer).

    Args:
      model_dir: a directory written by vidrep-train.
      checkpoint: a checkpoint prefix; empty means the latest in model_dir/checkpoints.

    Returns:
      (model, task, checkpoint path); the task's config is the run's (`task.config`).
    """
    from keras_vidrep import tasks
    from keras_vidrep.config import Config
    from keras_vidrep.errors import ConfigError

    task = tasks.create(Config.load(model_dir))
    model = task.build_model()
    path = checkpoint or tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if not path:
        raise ConfigError(f"`model_dir` {model_dir!r} has no checkpoint yet")
    if not tf.io.gfile.exists(path + ".index"):
        raise ConfigError(f"`checkpoint` {path!r}: no such checkpoint")
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    logging.info("restored %s", path)
    return model, task, path
