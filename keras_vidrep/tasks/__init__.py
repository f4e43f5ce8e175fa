"""Model families as tasks: each owns its settings, data, model, losses, metrics, pictures and export signatures.

The trainer (`keras_vidrep.training.loop`) knows only the `Task` interface (`tasks.base`). A task is found by its
registered name (`--task=composite`) or, for a task that lives outside this package, as `module.path:ClassName`.
"""
import importlib

from keras_vidrep.errors import ConfigError

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
