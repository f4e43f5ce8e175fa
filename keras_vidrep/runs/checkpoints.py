"""Checkpoints through tf.train.CheckpointManager, numbered by the global step; and the best checkpoint so far."""
import glob
import hashlib
import json
import math
import os
import shutil

import numpy as np
import tensorflow as tf
from absl import logging

from keras_vidrep.errors import ConfigError, VidrepError, write_failure


class NonFiniteError(VidrepError):
    """Training produced a NaN or Inf (loss, gradient, weight or validation number); nothing non-finite is saved."""


class CheckpointWriteError(VidrepError):
    """A checkpoint could not be written (a full disk, a lost mount); the previous one is intact."""


def nonfinite_variables(variables):
    """Paths of the variables that hold a NaN or Inf."""
    return [v.path for v in variables if not np.isfinite(np.asarray(v)).all()]


def weights_sha256(weights):
    """SHA-256 of `weights` (float32 bytes, in order): equal fingerprints mean identical weights."""
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(np.ascontiguousarray(np.asarray(weight), np.float32).tobytes())
    return digest.hexdigest()


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


def checkpoint_manager(run_dir, model, optimizer=None, step=None, max_to_keep=3, **extra):
    """A CheckpointManager over `model` (and the optimizer, step counter and `extra` trackables when given) in
    the checkpoints folder of `run_dir` (a `RunDir`)."""
    items = {"model": model, **extra}
    if optimizer is not None:
        items["optimizer"] = optimizer
    if step is not None:
        items["step"] = step
    checkpoint = tf.train.Checkpoint(**items)
    return tf.train.CheckpointManager(checkpoint, run_dir.checkpoints, max_to_keep)


def restore_latest(checkpoint, run_dir):
    """Restores the newest checkpoint of `run_dir` (a `RunDir`) into `checkpoint`, if there is one.

    Every object of `checkpoint` must find its values, so a checkpoint of another model fails loudly.

    Returns:
      The restored checkpoint's path, or None.
    """
    path = tf.train.latest_checkpoint(run_dir.checkpoints)
    if path:
        checkpoint.restore(path).assert_existing_objects_matched()
        logging.info("restored %s", path)
    return path


def step_of(path):
    """The step in a checkpoint path (`.../ckpt-1355` → 1355); 0 if it names none."""
    tail = str(path).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def find_checkpoint(run_dir, checkpoint="", best=False):
    """The checkpoint prefix of a run: `checkpoint` if given, else the best (`best`: run_dir/best/) or the latest in
    run_dir/checkpoints. ConfigError, naming the run's setting, if there is none.

    Args:
      run_dir: a `RunDir`.
      checkpoint: a checkpoint prefix, or empty.
      best: the best checkpoint instead of the latest.
    """
    if best and not checkpoint:
        if not os.path.isfile(run_dir.best_record):
            raise ConfigError(f"`{run_dir.what}` {run_dir.path!r} has no best checkpoint (its task keeps none, or no "
                              f"validation ran yet)")
        with open(run_dir.best_record, encoding="utf-8") as f:
            checkpoint = os.path.join(run_dir.best, json.load(f)["checkpoint"])
    path = checkpoint or tf.train.latest_checkpoint(run_dir.checkpoints)
    if not path:
        raise ConfigError(f"`{run_dir.what}` {run_dir.path!r} has no checkpoint yet")
    if not tf.io.gfile.exists(path + ".index"):
        raise ConfigError(f"`checkpoint` {path!r}: no such checkpoint")
    return path


def restore_weights(model, run_dir, checkpoint="", best=False, whole=True):
    """Restores a checkpoint of `run_dir` (see `find_checkpoint`) into `model`, a model of the same architecture as
    that run's (matched through the object graph, so freezing or nesting `model` does not matter).

    Args:
      whole: every weight of `model` must be found in the checkpoint (else an error); False restores what matches.

    Returns:
      The checkpoint's path.
    """
    path = find_checkpoint(run_dir, checkpoint, best)
    status = tf.train.Checkpoint(model=model).restore(path).expect_partial()
    if whole:
        status.assert_existing_objects_matched()
    logging.info("restored %s into %s", path, model.name)
    return path


class BestCheckpoint:
    """Keeps the model's weights at the best value of one validation number in model_dir/best/.

    `best/best.json` records the step, the number and the checkpoint, so a resumed run keeps comparing against the
    best value before the interruption. Restore with `restore_weights(model, run_dir, best=True)`.

    Args:
      run_dir: the run's `RunDir`.
      model: the model whose weights are saved.
      metric: the validation number that decides.
      mode: `max` (higher is better) or `min`.
    """

    def __init__(self, run_dir, model, metric, mode="max"):
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be max or min, got {mode!r}")
        self.directory, self._record_path = run_dir.best, run_dir.best_record
        self.metric, self.mode = metric, mode
        self._checkpoint = tf.train.Checkpoint(model=model)
        self.record = None
        if os.path.isfile(self._record_path):
            with open(self._record_path, encoding="utf-8") as f:
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
        tmp = self._record_path + ".tmp"
        try:
            path = self._checkpoint.write(prefix)
            record["checkpoint"] = os.path.basename(path)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(record, f, indent=2)
            os.replace(tmp, self._record_path)
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
