"""Model families as tasks: each owns its settings, data, model, losses, metrics, pictures and export signatures.

The trainer (`keras_vidrep.training.loop`) knows only the `Task` interface (`tasks.base`). A task is found by its
registered name (`--task=composite`) or, for a task that lives outside this package, as `module.path:ClassName`.
"""
import dataclasses
import importlib

from keras_vidrep.errors import ConfigError
from keras_vidrep.settings import TRAINER_FIELDS, int_tuple

# Built-in tasks: name -> module that defines the class `Task`. Imported on first use.
BUILTIN = {"composite": "keras_vidrep.tasks.composite", "classifier": "keras_vidrep.tasks.classifier",
           "vae": "keras_vidrep.tasks.vae", "latent": "keras_vidrep.tasks.latent"}
_registered = {}


def register(task_class):
    """Registers a Task subclass under its `name` (usable as a decorator)."""
    _registered[task_class.name] = task_class
    return task_class


def get(name):
    """The Task class called `name` (a registered name or `module.path:ClassName`)."""
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        return register(importlib.import_module(BUILTIN[name]).Task)
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"`task` {name!r} cannot be loaded ({type(e).__name__}: {e})") from None
    raise ConfigError(f"`task` must be one of {', '.join(sorted({*BUILTIN, *_registered}))} or "
                      f"module.path:ClassName, got {name!r}")


def names():
    """Every built-in and registered task name."""
    return sorted({*BUILTIN, *_registered})


def create(config):
    """The task object for a Config."""
    return get(config.task)(config)


def settings_of(task, values):
    """The task's `Settings` from {name: value} (lists, as flags and JSON give them, become the tuples of tuple
    settings); ConfigError names any value that is not a setting of the task."""
    task_class = get(task)
    fields = dataclasses.fields(task_class.Settings)
    unknown = sorted(set(values) - {f.name for f in fields})
    if unknown:
        verb = "is not a setting" if len(unknown) == 1 else "are not settings"
        raise ConfigError(f"{', '.join(f'`{k}`' for k in unknown)} {verb} of task {task!r}")
    values = dict(values)
    for field in fields:
        if isinstance(field.default, tuple) and field.name in values:
            values[field.name] = int_tuple(field.name, values[field.name])
    return task_class.Settings(**values)


def trained_settings(run_dir, task):
    """(Settings, seed) of the trained run in `run_dir` (a `RunDir`), which must be of `task`: how a task that builds
    on another run (a classifier on a composite encoder, a latent LSTM on a VAE) rebuilds that run's model."""
    values = run_dir.read_config()
    if values["task"] != task:
        raise ConfigError(f"`{run_dir.what}` {run_dir.path!r} holds a run of task {values['task']!r}, not {task!r}")
    own = {k: v for k, v in values.items() if k not in TRAINER_FIELDS and k != "task"}
    return settings_of(task, own), int(values.get("seed", 0))
