"""The layout of a run's model directory: every file and folder a run, its tools and TensorBoard find there.

    <model_dir>/
      config.json            the run's settings (`Config.save`), written when training starts
      .vidrep.lock           the OS lock of the training process (`training.model_dir`)
      .vidrep.lease          its lease on a shared file system, renewed by a heartbeat
      budget.json            the plans of a `--train_minutes` run
      checkpoints/           ckpt-<step>.* kept by tf.train.CheckpointManager
      best/                  the best checkpoint by the task's validation number, and best.json
      train/, validation/    TensorBoard events of training and validation (the run's HParams session: the root)
      plugins/profile/       Profiler traces of `--profile_steps`
      export/                the SavedModel (unless `export_dir` puts it elsewhere)
      eval/                  vidrep-eval's TensorBoard scalars (eval.json, eval.png: vidrep-ablation's evaluation)
      probe/                 vidrep-probe's tables, pictures, scalars, HParams sessions and projector
      class_names.txt        a classifier's class names, one a line in label order (also in its export's assets/)
      video_input.json       what the model reads of a video as decoded: frame size, channels, crop, frame skip
      input_statistics.json  the mean and standard deviation a run's inputs are standardized with (feature windows;
                             also in its export's assets/), so that new data is read as training read it

Plain Python: nothing here reads TensorFlow, so every layer of the package (and a shell script) may ask where a
file of a run is.
"""
import json
import os

import numpy as np

from keras_vidrep.errors import ConfigError

CONFIG_FILE = "config.json"
CHECKPOINT_SUBDIR = "checkpoints"
BEST_SUBDIR = "best"
BEST_RECORD = "best.json"
EXPORT_SUBDIR = "export"
SUMMARY_SPLITS = ("train", "validation")


def _under(*parts, doc=None):
    """A property: the path `parts` below the run's directory."""
    return property(lambda self: os.path.join(self.path, *parts), doc=doc)


def _read(path):
    """The text of `path`, or None if there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def _write(path, text):
    """Writes `text` to `path` atomically (a temporary file renamed into place); returns the path."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def _in(path, folder):
    """`path`, or the file of the same name in `folder`."""
    return os.path.join(folder, os.path.basename(path)) if folder else path


class RunDir:
    """The paths of one run's model directory (nothing is made or read by naming them).

    Args:
      path: the model directory.
      what: the setting or flag that named it, for error messages (`model_dir`, `init_from`, `vae_dir`).
    """

    def __init__(self, path, what="model_dir"):
        if not path:
            raise ConfigError(f"`{what}` is required")
        self.path, self.what = str(path), what

    def __repr__(self):
        return f"RunDir({self.path!r})"

    config = _under(CONFIG_FILE, doc="config.json: the run's settings.")
    lock = _under(".vidrep.lock", doc="The OS lock of the training process.")
    lease = _under(".vidrep.lease", doc="The training process's lease on a shared file system.")
    budget = _under("budget.json", doc="The plans of a `--train_minutes` run.")
    checkpoints = _under(CHECKPOINT_SUBDIR, doc="The CheckpointManager's folder.")
    best = _under(BEST_SUBDIR, doc="The best checkpoint's folder.")
    best_record = _under(BEST_SUBDIR, BEST_RECORD, doc="best.json: the best checkpoint's step, number and files.")
    export = _under(EXPORT_SUBDIR, doc="The SavedModel, unless `export_dir` puts it elsewhere.")
    eval = _under("eval", doc="vidrep-eval's TensorBoard scalars.")
    probe = _under("probe", doc="vidrep-probe's outputs.")
    eval_json = _under("eval.json", doc="vidrep-eval's numbers of the run, as vidrep-ablation asks for them.")
    eval_plot = _under("eval.png", doc="vidrep-eval's per-horizon plot, as vidrep-ablation asks for it.")
    class_names = _under("class_names.txt", doc="A classifier's class names, one a line in label order.")
    input_statistics = _under("input_statistics.json", doc="What the model's inputs are standardized with.")
    video_input = _under("video_input.json", doc="What the model reads of a video as decoded (its geometry).")

    @property
    def hparams(self):
        """The run's own HParams session (the root: TensorBoard names the run by its directory)."""
        return self.path

    @property
    def profile(self):
        """Where the Profiler writes (it adds plugins/profile/<time>/ below)."""
        return self.path

    def summaries(self, split):
        """The TensorBoard folder of `split` (one of SUMMARY_SPLITS)."""
        if split not in SUMMARY_SPLITS:
            raise ValueError(f"`split` must be one of {', '.join(SUMMARY_SPLITS)}, got {split!r}")
        return os.path.join(self.path, split)

    def has_config(self):
        return os.path.isfile(self.config)

    def has_checkpoint(self):
        return os.path.isfile(os.path.join(self.checkpoints, "checkpoint"))

    def read_config(self):
        """The values of config.json ({name: value}, with `task`); ConfigError if there is none."""
        if not self.has_config():
            raise ConfigError(f"`{self.what}` {self.path!r} holds no {CONFIG_FILE}; was it written by "
                              f"vidrep-train?")
        with open(self.config, encoding="utf-8") as f:
            values = json.load(f)
        values.setdefault("task", "composite")  # written before tasks existed
        return values

    def write_config(self, values):
        """Writes config.json ({name: value}) atomically; returns its path."""
        return _write(self.config, json.dumps(values, indent=2, sort_keys=True))

    def read_class_names(self):
        """The class names the run stored (a list), or None if it stored none."""
        text = _read(self.class_names)
        return None if text is None else text.splitlines()

    def write_class_names(self, names, folder=None):
        """Writes class_names.txt (one name a line) into the run's directory, or into `folder`; returns its path."""
        return _write(_in(self.class_names, folder), "".join(f"{name}\n" for name in names))

    def read_video_input(self):
        """The video geometry the run stored ({field: value}), or None."""
        text = _read(self.video_input)
        return None if text is None else json.loads(text)

    def write_video_input(self, text):
        """Writes video_input.json (a JSON text) into the run's directory; returns its path."""
        return _write(self.video_input, text)

    def read_statistics(self):
        """The input statistics the run stored ({name: float32 array}), or None if it stored none."""
        text = _read(self.input_statistics)
        return None if text is None else {name: np.asarray(v, np.float32) for name, v in json.loads(text).items()}

    def write_statistics(self, statistics, folder=None):
        """Writes input_statistics.json ({name: array} as lists of numbers, exact for float32) into the run's
        directory, or into `folder`; returns its path."""
        return _write(_in(self.input_statistics, folder),
                      json.dumps({name: np.asarray(v, np.float32).tolist() for name, v in statistics.items()}))

    @classmethod
    def of_checkpoint(cls, path, what):
        """(RunDir, checkpoint prefix or "") of `path`, a model directory or a checkpoint prefix
        `<model_dir>/checkpoints/ckpt-N`; ConfigError if it is neither."""
        if os.path.isdir(path):
            return cls(path, what), ""
        if os.path.isfile(path + ".index"):
            return cls(os.path.dirname(os.path.dirname(path)), what), path
        raise ConfigError(f"`{what}` {path!r}: no such model directory or checkpoint prefix")
