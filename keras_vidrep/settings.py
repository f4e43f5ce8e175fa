"""Settings as dataclass fields: the helpers every settings class is written with (`setting`, the checks), and the
trainer's own settings (`TrainerSettings`), which every run shares whatever its task.

This module sits below data/ and tasks/, whose settings classes are written with it; `keras_vidrep.config.Config`
joins the trainer's settings with a task's.
"""
import dataclasses

from keras_vidrep.errors import ConfigError

DEFAULT_TASK = "composite"
OPTIMIZERS = ("adam", "sgd", "rmsprop")
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
PRECISIONS = ("float32", "mixed_bfloat16", "auto")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker")
CLUSTERS = ("tf_config", "slurm")


def setting(default, help_text, choices=None):
    """A settings field: its default, the help text of its flag and (optionally) its allowed values."""
    return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


def check_positive(settings, names):
    """Raises ConfigError naming the first of `names` that is not a positive integer."""
    for name in names:
        value = getattr(settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"`{name}` must be a positive integer, got {value!r}")


def check_required(settings, names):
    """Raises ConfigError naming the first of `names` that is empty."""
    for name in names:
        if not getattr(settings, name):
            raise ConfigError(f"`{name}` is required")


def int_tuple(name, values):
    """`values` (integers, or strings such as flags give) as a tuple of ints; ConfigError names the setting."""
    try:
        return tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"`{name}` must be comma-separated integers, got {values!r}") from None


def refuse_unread(settings, names, reason):
    """ConfigError for the first of `names` that is given although the run does not read it (`reason`: why not,
    e.g. "`data`=bouncing_mnist"), so that a file the user named is never silently ignored."""
    for name in names:
        if getattr(settings, name):
            raise ConfigError(f"`{name}` {getattr(settings, name)!r} is not read with {reason}: remove it, or choose "
                              f"the setting that reads it")


def check_choices(settings):
    """Raises ConfigError for the first field whose value is not among its declared choices."""
    for field in dataclasses.fields(settings):
        choices = field.metadata.get("choices")
        if choices and getattr(settings, field.name) not in choices:
            raise ConfigError(f"`{field.name}` must be one of {', '.join(choices)}, got "
                              f"{getattr(settings, field.name)!r}")


@dataclasses.dataclass
class TrainerSettings:
    """What every task shares: where a run lives, how it is optimised, distributed, checkpointed and watched."""

    experiment: str = setting("quickstart", "Experiment name (shown in logs and stored with the export).")
    model_dir: str = setting("", "Directory for checkpoints, TensorBoard summaries and config.json (required).")
    export_dir: str = setting("", "Where the SavedModel goes; empty means <model_dir>/export.")
    seed: int = setting(0, "Seed for data order and weight initialisation.")

    batch_size: int = setting(16, "Global batch size (summed over all replicas).")
    train_steps: int = setting(1000, "Total optimizer steps; a resumed run continues up to this number.")
    train_minutes: float = setting(0.0, "Train for this many minutes of wall time instead of `train_steps`: the "
                                        "run plans `train_steps` from its measured pace and plans again as it goes, "
                                        "the schedule ending at the last plan (model_dir/budget.json; a resume "
                                        "keeps the last plan). 0: off.")
    optimizer: str = setting("adam", "Optimizer.", OPTIMIZERS)
    learning_rate: float = setting(1e-3, "Learning rate (the peak, with a schedule).")
    learning_rate_schedule: str = setting("constant", "constant, or cosine decay from `learning_rate` to "
                                                      "`learning_rate_floor` x it at `train_steps`.",
                                          LEARNING_RATE_SCHEDULES)
    learning_rate_floor: float = setting(0.0, "cosine: the final learning rate as a fraction of the peak.")
    warmup_steps: int = setting(0, "Steps of linear warm-up from 0 to `learning_rate` (cosine schedule).")
    momentum: float = setting(0.9, "Momentum for sgd (and rmsprop).")
    clipnorm: float = setting(0.0, "Clip the gradient (summed over replicas) to this global norm (0: off).")
    checkpoint_every: int = setting(500, "Steps between checkpoints.")
    keep_checkpoints: int = setting(3, "Checkpoints kept on disk.")
    summary_every: int = setting(50, "Steps between TensorBoard scalar summaries.")
    eval_every: int = setting(500, "Steps between validation runs.")
    image_every: int = setting(500, "Steps between TensorBoard pictures.")
    export: bool = setting(True, "Write a SavedModel when training ends.")
    deterministic: bool = setting(False, "Deterministic TensorFlow ops: bitwise-reproducible runs and resumes, "
                                         "somewhat slower.")
    precision: str = setting("float32", "Keras dtype policy of the model: float32, mixed_bfloat16 (matrix "
                                        "products in bfloat16; weights, states, losses and optimizer in float32), "
                                        "or auto: mixed_bfloat16 on a CPU that multiplies bfloat16 natively "
                                        "(AVX512_BF16 or AMX) and has no GPU beside it, float32 elsewhere; "
                                        "config.json records the one chosen and a resumed run keeps it.",
                             PRECISIONS)
    autotune: bool = setting(True, "Time the formulations of the LSTMs' recurrent products on this CPU at start-up "
                                   "(about a second, cached per CPU) and use the fastest; false: the default one.")
    kernel_library: str = setting("", "CPU matrix-product library: onednn or eigen; empty: the one measured faster "
                                      "for this product shape (cached). Recorded in config.json when a run starts, "
                                      "so that a resumed run computes as it started.", ("", "onednn", "eigen"))
    formulations: str = setting("", "The recurrent products' formulations, UNITS:DTYPE:FORWARD:BACKWARD,...; empty: "
                                    "measured (autotune). Recorded in config.json when a run starts, so that a "
                                    "resumed run computes as it started.")
    profile_steps: str = setting("", "START,END: record a Profiler trace of these training steps for TensorBoard's "
                                     "Profile tab (in model_dir/plugins/profile; the tab needs the `profile` extra).")
    jit_compile: bool = setting(False, "XLA-compile the forward and backward pass, and with one replica the "
                                       "optimizer update (off by default on CPUs; see docs/speed.md).")

    strategy: str = setting("default", "tf.distribute strategy.", STRATEGIES)
    cpu_replicas: int = setting(0, "Split the CPU into this many logical devices (mirrored without GPUs).")
    cluster: str = setting("tf_config", "multi_worker: where the cluster comes from: tf_config (TF_CONFIG, as "
                                        "vidrep-launch, Kubernetes TFJobs and Vertex AI set it) or slurm (the "
                                        "environment srun gives each task).", CLUSTERS)
    cluster_port: int = setting(8888, "cluster=slurm: task k on a node listens on this port + k.")
    worker_timeout: int = setting(600, "multi_worker: seconds without progress once training runs before a "
                                       "worker gives up with an error (a peer died).")
    worker_start_timeout: int = setting(7200, "multi_worker: seconds a worker may wait for its peers to reach the "
                                              "first step (their data checks, model build and restore) before it "
                                              "gives up with an error (a peer never came).")

    def validate(self):
        check_positive(self, ("batch_size", "train_steps", "checkpoint_every", "keep_checkpoints", "summary_every",
                              "eval_every", "image_every", "worker_timeout", "worker_start_timeout",
                              "cluster_port"))
        check_choices(self)
        if self.learning_rate <= 0:
            raise ConfigError(f"`learning_rate` must be positive, got {self.learning_rate}")
        if not 0.0 <= self.learning_rate_floor <= 1.0:
            raise ConfigError(f"`learning_rate_floor` must be in [0, 1], got {self.learning_rate_floor}")
        if self.warmup_steps < 0 or self.warmup_steps >= self.train_steps:
            raise ConfigError(f"`warmup_steps` must be >= 0 and below `train_steps` ({self.train_steps}), got "
                              f"{self.warmup_steps}")
        if self.warmup_steps and self.learning_rate_schedule == "constant":
            raise ConfigError("`warmup_steps` needs `learning_rate_schedule`=cosine")
        if self.train_minutes < 0:
            raise ConfigError(f"`train_minutes` must be >= 0, got {self.train_minutes}")
        if self.cluster != "tf_config" and self.strategy != "multi_worker":
            raise ConfigError(f"`cluster`={self.cluster} describes the workers of `strategy`=multi_worker, got "
                              f"`strategy`={self.strategy}")
        if self.train_minutes and self.strategy == "multi_worker":
            raise ConfigError("`train_minutes` runs on one machine (default or mirrored strategy), not multi_worker")
        if self.clipnorm < 0:
            raise ConfigError(f"`clipnorm` must be >= 0, got {self.clipnorm}")
        if self.cpu_replicas < 0:
            raise ConfigError(f"`cpu_replicas` must be >= 0, got {self.cpu_replicas}")
        profile_window(self.profile_steps)


def profile_window(text):
    """`profile_steps` "START,END" → (START, END) with 1 <= START <= END; "" → None; else ConfigError."""
    if not text:
        return None
    try:
        start, end = (int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"`profile_steps` must be START,END (two step numbers), got {text!r}") from None
    if not 1 <= start <= end:
        raise ConfigError(f"`profile_steps` must have 1 <= START <= END, got {text!r}")
    return start, end


TRAINER_FIELDS = tuple(f.name for f in dataclasses.fields(TrainerSettings))
