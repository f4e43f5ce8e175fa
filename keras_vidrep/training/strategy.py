"""Builds the tf.distribute strategy a config asks for."""
import tensorflow as tf
from absl import logging

from keras_vidrep.errors import ConfigError


def split_cpu(replicas):
    """Splits the first physical CPU into `replicas` logical devices.

    Must run before TensorFlow initializes its devices (before the first op); otherwise TF refuses.
    """
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
    if current is not None and len(current) == replicas:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], wanted)
    except RuntimeError as e:
        raise ConfigError(f"`cpu_replicas`={replicas}: TensorFlow was already initialized, so the CPU can no "
                          f"longer be split ({e})") from None


def build_strategy(name="default", cpu_replicas=0):
    """Returns a tf.distribute.Strategy.

    Args:
      name: `default` (no distribution), `one_device` (the first GPU, else the CPU) or `mirrored` (all GPUs, else
        all logical CPUs).
      cpu_replicas: if > 0, first split the CPU into this many logical devices so that `mirrored` runs that many
        replicas on a machine without GPUs.
    """
    if cpu_replicas:
        split_cpu(cpu_replicas)
    gpus = tf.config.list_logical_devices("GPU")
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "one_device":
        strategy = tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    elif name == "mirrored":
        if gpus:
            strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
        else:
            cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(
                cpus, cross_device_ops=tf.distribute.ReductionToOneDevice(reduce_to_device=cpus[0]))
    else:
        raise ConfigError(f"`strategy` must be one of default, one_device, mirrored, got {name!r}")
    logging.info("strategy %s with %d replica(s)", type(strategy).__name__, strategy.num_replicas_in_sync)
    return strategy
