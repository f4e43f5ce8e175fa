"""Checkpoints through tf.train.CheckpointManager, numbered by the global step; and the best checkpoint so far."""
import glob
import json
import math
import os
import shutil

import numpy as np
import tensorflow as tf
from absl import logging

from keras_vidrep.errors import VidrepError, write_failure

CHECKPOINT_SUBDIR = "checkpoints"


class NonFiniteError(VidrepError):
    """Training produced a NaN or Inf (loss, gradient, weight or validation number); nothing non-finite is saved."""


class CheckpointWriteError(VidrepError):
    """A checkpoint could not be written (a full disk, a lost mount); the previous one is intact."""


def nonfinite_variables(variables):
    """Paths of the variables that hold a NaN or Inf."""
    return [v.path for v in variables if not np.isfinite(np.asarray(v)).all()]


def save(manager, number, variables):
    """`manager.save(checkpoint_number=number)` with two guarantees: non-finite `variables` are never written
    (NonFiniteError), and a failed write (a full disk) leaves no temporary files and the previous checkpoint as it
    was (CheckpointWriteError, one line). Returns the saved prefix."""
    previous = manager.latest_checkpoint
    bad = nonfinite_variables(variables)
    if bad:
        raise NonFiniteError(f"weight {bad[0]!r} is not finite at step {number}; not saved. The last good "
                             f"checkpoint is {previous or 'none'}")
    prefix = os.path.join(manager.directory, f"ckpt-{number}")
    try:
        return manager.save(checkpoint_number=number)
    except (tf.errors.OpError, OSError) as e:
        remove_partial(prefix, keep=previous)
        raise CheckpointWriteError(f"{write_failure(prefix, e)}; the previous checkpoint {previous or '(none)'} is "
                                   f"intact: free space and run the same command again to resume") from None


def remove_partial(prefix, keep=None):
    """Removes the files and temporary folders of the checkpoint `prefix` (unless it is `keep`)."""
    if prefix == keep:
        return
    for path in glob.glob(glob.escape(prefix) + "_temp*") + glob.glob(glob.escape(prefix) + ".*"):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except OSError:
                pass


def checkpoint_manager(model_dir, model, optimizer=None, step=None, max_to_keep=3, **extra):
    """A CheckpointManager over `model` (and the optimizer, step counter and `extra` trackables when given) in
    model_dir/checkpoints."""
    items = {"model": model, **extra}
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


def step_of(path):
    """The step in a checkpoint path (`.../ckpt-1355` → 1355); 0 if it names none."""
    tail = str(path).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def restore_model(model_dir, checkpoint="", best=False):
    """Rebuilds the model of `model_dir` from its config.json and restores its weights (no optimizer).

    Args:
      model_dir: a directory written by vidrep-train.
      checkpoint: a checkpoint prefix; empty means the latest in model_dir/checkpoints.
      best: restore the best checkpoint (model_dir/best/) instead of the latest.

    Returns:
      (model, task, checkpoint path); the task's config is the run's (`task.config`).
    """
    from keras_vidrep import tasks
    from keras_vidrep.config import Config
    from keras_vidrep.errors import ConfigError

    task = tasks.create(Config.load(model_dir))
    model = task.build_model()
    if best and not checkpoint:
        record = os.path.join(model_dir, BEST_SUBDIR, BEST_RECORD)
        if not os.path.isfile(record):
            raise ConfigError(f"`model_dir` {model_dir!r} has no best checkpoint (its task keeps none, or no "
                              f"validation ran yet)")
        with open(record, encoding="utf-8") as f:
            checkpoint = os.path.join(model_dir, BEST_SUBDIR, json.load(f)["checkpoint"])
    path = checkpoint or tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if not path:
        raise ConfigError(f"`model_dir` {model_dir!r} has no checkpoint yet")
    if not tf.io.gfile.exists(path + ".index"):
        raise ConfigError(f"`checkpoint` {path!r}: no such checkpoint")
    tf.train.Checkpoint(model=model).restore(path).expect_partial()
    logging.info("restored %s", path)
    return model, task, path


def restore_weights(model, model_dir):
    """Restores the latest checkpoint of `model_dir` into `model`, a model of the same architecture as that run's
    (matched through the object graph, so freezing or nesting `model` does not matter). Returns the path."""
    from keras_vidrep.errors import ConfigError

    path = tf.train.latest_checkpoint(os.path.join(model_dir, CHECKPOINT_SUBDIR))
    if not path:
        raise ConfigError(f"`model_dir` {model_dir!r} has no checkpoint yet")
    tf.train.Checkpoint(model=model).restore(path).expect_partial().assert_existing_objects_matched()
    logging.info("restored %s into %s", path, model.name)
    return path


BEST_SUBDIR = "best"
BEST_RECORD = "best.json"


class BestCheckpoint:
    """Keeps the model's weights at the best value of one validation number in model_dir/best/.

    `best/best.json` records the step, the number and the checkpoint, so a resumed run keeps comparing against the
    best value before the interruption. Restore with `restore_model(model_dir, best=True)`.

    Args:
      model_dir: the run's directory.
      model: the model whose weights are saved.
      metric: the validation number that decides.
      mode: `max` (higher is better) or `min`.
    """

    def __init__(self, model_dir, model, metric, mode="max"):
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be max or min, got {mode!r}")
        self.directory = os.path.join(model_dir, BEST_SUBDIR)
        self.metric, self.mode = metric, mode
        self._checkpoint = tf.train.Checkpoint(model=model)
        record = os.path.join(self.directory, BEST_RECORD)
        self.record = None
        if os.path.isfile(record):
            with open(record, encoding="utf-8") as f:
                self.record = json.load(f)

    @property
    def path(self):
        return os.path.join(self.directory, self.record["checkpoint"]) if self.record else None

    def improves(self, value):
        """Whether `value` beats the best so far; a NaN or Inf never does."""
        if not math.isfinite(value):
            return False
        if self.record is None:
            return True
        return value > self.record["value"] if self.mode == "max" else value < self.record["value"]

    def update(self, step, values):
        """Saves the weights if `values[metric]` is the best so far; returns whether it was.

        The new checkpoint and then the new `best.json` are written before the old best files are removed, so the
        record names existing files whenever the process stops."""
        value = float(values[self.metric])
        if not self.improves(value):
            return False
        os.makedirs(self.directory, exist_ok=True)
        old = glob.glob(os.path.join(self.directory, "ckpt-*"))
        record = {"step": int(step), "metric": self.metric, "value": value}
        prefix = os.path.join(self.directory, f"ckpt-{int(step)}")
        tmp = os.path.join(self.directory, BEST_RECORD + ".tmp")
        try:
            path = self._checkpoint.write(prefix)
            record["checkpoint"] = os.path.basename(path)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f, indent=2)
            os.replace(tmp, os.path.join(self.directory, BEST_RECORD))
        except (tf.errors.OpError, OSError) as e:
            remove_partial(prefix, keep=self.path)
            if os.path.exists(tmp):
                os.remove(tmp)
            raise CheckpointWriteError(f"{write_failure(prefix, e)}; the best checkpoint so far "
                                       f"{self.path or '(none)'} is intact") from None
        self.record = record
        for name in old:
            if not name.startswith(path + "."):
                os.remove(name)
        return True
