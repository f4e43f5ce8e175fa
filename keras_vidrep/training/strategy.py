"""Builds the tf.distribute strategy a config asks for, and tells the chief worker from the others."""
import json
import os
import shutil
import subprocess

import tensorflow as tf
from absl import logging

from keras_vidrep.errors import ConfigError
from keras_vidrep.settings import CLUSTERS


def split_cpu(replicas):
    """Splits the first physical CPU into `replicas` logical devices.

    Must run before TensorFlow initializes its devices (before the first op); otherwise TF refuses.
    """
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError as e:
        raise ConfigError(f"`cpu_replicas`={replicas}: TensorFlow was already initialized, so the CPU can no "
                          f"longer be split ({e})") from None


def build_strategy(name="default", cpu_replicas=0, timeout=None, cluster="tf_config", port=8888):
    """Returns a tf.distribute.Strategy.

    Args:
      name: `default` (no distribution), `one_device` (the first GPU, else the CPU), `mirrored` (all GPUs, else
        all logical CPUs) or `multi_worker` (MultiWorkerMirroredStrategy over the cluster in TF_CONFIG).
      cpu_replicas: if > 0, first split the CPU into this many logical devices so that `mirrored` runs that many
        replicas on a machine without GPUs.
      timeout: multi_worker: seconds a collective may wait for its peers before failing.
      cluster, port: multi_worker: where the cluster comes from (see `cluster_resolver`).
    """
    # The resolver first: it sets a Slurm task's visible GPUs, which must happen before anything initializes
    # TensorFlow's devices (`split_cpu` does); collective ops are then configured before the first op.
    resolver = cluster_resolver(cluster, port) if name == "multi_worker" else None
    if resolver is not None:
        resolver.cluster_spec()
    if cpu_replicas:
        split_cpu(cpu_replicas)
    if resolver is not None:
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver,
                                                             communication_options=options)
    elif name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    elif name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
        else:
            cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(
                cpus, cross_device_ops=tf.distribute.ReductionToOneDevice(reduce_to_device=cpus[0]))
    else:
        raise ConfigError(f"`strategy` must be one of default, one_device, mirrored, multi_worker, got {name!r}")
    logging.info("strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy


def cluster_resolver(kind="tf_config", port=8888):
    """The cluster of a multi-worker run, from the scheduler's own conventions:

      * `tf_config`: the TF_CONFIG environment variable, as `vidrep-launch`, Kubernetes (Kubeflow's TFJob) and
        Vertex AI set it (`{"cluster": {"chief": [...], "worker": [...]}, "task": {"type": ..., "index": ...}}`);
      * `slurm`: the environment `srun` gives each task (SLURM_PROCID, SLURM_STEP_NODELIST,
        SLURM_STEP_TASKS_PER_NODE, ...), through `tf.distribute.cluster_resolver.SlurmClusterResolver`; task k on a
        node listens on `port` + k. On nodes without GPUs the resolver is told that each task has one GPU slot of
        its own (`gpus_per_node` = tasks on the node) but sets no CUDA_VISIBLE_DEVICES: its pairing of tasks with
        GPUs would otherwise leave no task at all.
    """
    if kind == "tf_config":
        _check_tf_config()
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if kind != "slurm":
        raise ConfigError(f"`cluster` must be one of {', '.join(CLUSTERS)}, got {kind!r}")
    missing = [v for v in ("SLURM_PROCID", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE")
               if v not in os.environ]
    if missing:
        raise ConfigError(f"`cluster`=slurm needs the environment srun sets; {', '.join(missing)} missing (start "
                          f"every task with srun inside an sbatch job)")
    from tensorflow.python.distribute.cluster_resolver.slurm_cluster_resolver import expand_tasks_per_node

    tasks = max(expand_tasks_per_node(os.environ["SLURM_STEP_TASKS_PER_NODE"]))
    if os.environ.get("CUDA_VISIBLE_DEVICES") is None and node_gpus():  # one share of the node's GPUs a task
        return tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port)
    # No GPU, or GPUs Slurm (or the user) already bound to each task: each task keeps what it sees.
    return tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port, gpus_per_node=tasks,
                                                               gpus_per_task=1, auto_set_gpu=False)


def node_gpus():
    """The NVIDIA GPUs of this node, counted by `nvidia-smi` without initializing CUDA (a process that has
    initialized CUDA can no longer choose its GPUs through CUDA_VISIBLE_DEVICES); 0 without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=60,
                                 check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(line.startswith("GPU ") for line in listing.splitlines())


def _check_tf_config():
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        raise ConfigError("`strategy`=multi_worker needs the cluster in the TF_CONFIG environment variable "
                          "(vidrep-launch sets it for local workers)")
    try:
        spec = json.loads(raw)
        spec["cluster"], spec["task"]["type"], spec["task"]["index"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster description ({type(e).__name__}: {e}): {raw!r}") from None


def task_of(strategy):
    """(task_type, task_id) of this process in its cluster; (None, 0) without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy):
    """True for the one process that writes checkpoints, summaries and exports."""
    task_type, task_id = task_of(strategy)
    if task_type is None:
        return True
    return chief_task(task_type, task_id, strategy.cluster_resolver.cluster_spec().as_dict())


def chief_task(task_type, task_id, cluster):
    """Whether task (`task_type`, `task_id`) of `cluster` ({type: [addresses]}) is the chief: the `chief` task,
    or worker 0 of a cluster that has none (Slurm's, and TFJobs without a chief replica)."""
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)


def gather_replicas(values):
    """`values` of every replica of the running step, concatenated on the first axis in replica order (the global
    batch's order); differentiable. The identity outside a multi-replica step."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return values
    return ctx.all_gather(values, axis=0)


def check_same_step(strategy, step, model_dir):
    """Every worker restores from `model_dir` itself, so all must see the same checkpoints (a shared file system); a
    worker that restored another `step` (a variable) would train different weights, or wait forever: ConfigError."""
    def replica_steps():  # ReduceOp has no MIN or MAX: the steps agree iff their variance is 0
        ctx = tf.distribute.get_replica_context()
        value = tf.cast(step, tf.float64)
        return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stack([value, value * value]))

    mean, mean_square = strategy.experimental_local_results(
        strategy.run(tf.function(replica_steps, autograph=False)))[0].numpy()
    if mean_square - mean * mean > 1e-6:
        raise ConfigError(f"workers restored different checkpoints (this one step {int(step.numpy())}, the mean over "
                          f"workers {mean:g}): multi-worker resume needs `model_dir` {model_dir!r} on a file system "
                          f"that every worker reads")
