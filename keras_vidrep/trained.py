"""A trained run, opened: its Config, its task, its model rebuilt from config.json and the weights of a checkpoint.

What every tool that reads a run (vidrep-export, -eval, -probe, -embed) starts with.
"""
from keras_vidrep import tasks
from keras_vidrep.config import Config
from keras_vidrep.runs import checkpoints
from keras_vidrep.runs.directory import RunDir


def restore_model(model_dir, checkpoint="", best=False, what="model_dir"):
    """Rebuilds the model of `model_dir` from its config.json and restores its weights (no optimizer).

    Args:
      model_dir: a directory written by vidrep-train.
      checkpoint: a checkpoint prefix; empty means the latest in model_dir/checkpoints.
      best: restore the best checkpoint (model_dir/best/) instead of the latest.
      what: the flag or setting that named `model_dir`, for error messages.

    Returns:
      (model, task, checkpoint path); the task's config is the run's (`task.config`).
    """
    task = tasks.create(Config.load(model_dir, what))
    model = task.build_model()
    path = checkpoints.restore_weights(model, RunDir(model_dir, what), checkpoint, best, whole=False)
    return model, task, path
