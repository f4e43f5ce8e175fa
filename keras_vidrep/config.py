"""One experiment's settings: the trainer's own (`TrainerSettings`) plus those of the chosen task (its `Settings`).

Flags, `config.json` and the Python API all speak in one flat namespace: `Config(task="composite", units=(64,),
batch_size=8)` sorts each value into the trainer's or the task's settings, and `config.units` reads either. The same
`Config` drives data, model, training and export, so a model directory alone is enough to rebuild its model
(`Config.load(model_dir)`).
"""
import dataclasses

from keras_vidrep import tasks
from keras_vidrep.runs.directory import RunDir
from keras_vidrep.settings import DEFAULT_TASK, TRAINER_FIELDS, TrainerSettings


class Config:
    """The trainer's settings and the settings of one task, read and written as one flat set of names.

    Args:
      task: a registered task name (see `keras_vidrep.tasks`) or `module.path:ClassName`.
      **values: any field of `TrainerSettings` or of the task's `Settings`; the rest keep their defaults.
    """

    def __init__(self, task=DEFAULT_TASK, **values):
        trainer = {k: v for k, v in values.items() if k in TRAINER_FIELDS}
        own = {k: v for k, v in values.items() if k not in TRAINER_FIELDS}
        object.__setattr__(self, "task", task)
        object.__setattr__(self, "trainer", TrainerSettings(**trainer))
        object.__setattr__(self, "settings", tasks.settings_of(task, own))

    def __getattr__(self, name):
        for part in ("trainer", "settings"):
            obj = self.__dict__.get(part)
            if obj is not None and hasattr(obj, name):
                return getattr(obj, name)
        raise AttributeError(f"Config of task {self.__dict__.get('task')!r} has no setting {name!r}")

    def __setattr__(self, name, value):
        raise AttributeError("Config is immutable; use config.replace(name=value)")

    def __eq__(self, other):
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def replace(self, **changes):
        """A copy with `changes` applied."""
        return Config(**{**self.to_dict(), **changes})

    @property
    def run_dir(self):
        """The run's model directory (`RunDir`: the path of every file in it)."""
        return RunDir(self.model_dir)

    @property
    def resolved_export_dir(self):
        """The export directory: `export_dir`, or `<model_dir>/export` so that the export follows the run."""
        return self.export_dir or self.run_dir.export

    def validate(self):
        """Raises ConfigError naming the first setting that is out of range or contradicts another."""
        self.trainer.validate()
        self.settings.validate()
        return self

    def architecture_changes(self, other):
        """`key: old -> new` for the task and each of its settings that fix the weights, where `other` differs."""
        if self.task != other.task:
            return [f"task: {self.task!r} -> {other.task!r}"]
        return [f"{k}: {getattr(self, k)!r} -> {getattr(other, k)!r}" for k in self.settings.ARCHITECTURE_KEYS
                if getattr(self, k) != getattr(other, k)]

    def to_dict(self):
        return {"task": self.task, **dataclasses.asdict(self.trainer), **dataclasses.asdict(self.settings)}

    def save(self, directory, **overrides):
        """Writes config.json (with `overrides` applied to what is written) into `directory` atomically."""
        return RunDir(directory).write_config({**self.to_dict(), **overrides})

    @classmethod
    def load(cls, directory, what="model_dir"):
        """The Config of the run in `directory` (ConfigError naming `what` if it holds none)."""
        return cls(**RunDir(directory, what).read_config())
