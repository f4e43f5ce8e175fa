"""tf.data pipelines: sequences → (input frames, future frames), frames flattened, batched and prefetched.

The training stream is built per input pipeline from a `tf.distribute.InputContext`: element `e` of pipeline `p`
holds replica `p * local_replicas + e % local_replicas`'s share of global batch number `start_step +
e // local_replicas`. The global batch for a step is therefore the same whatever the number of replicas or workers,
and a resumed run continues exactly where the interrupted one stopped.
"""
import numpy as np
import tensorflow as tf

from keras_vidrep.data import sequences
from keras_vidrep.data.bouncing import TRAIN_STREAM, VALIDATION_STREAM, BouncingMNIST
from keras_vidrep.data.digits import load_digits
from keras_vidrep.errors import ConfigError


def bouncing_generator(config, split="train"):
    """The Bouncing MNIST generator a config describes, on the train or test digits."""
    digits = load_digits(config.digits, split, config.digits_path, config.digit_size)
    return BouncingMNIST(digits, config.canvas_size, config.num_digits, config.seq_length, config.step_length,
                         seed=config.seed, stream=TRAIN_STREAM if split == "train" else VALIDATION_STREAM)


def split_frames(sequence_batch, input_frames, future_frames):
    """(B, T, H, W) → inputs (B, input_frames, H*W) and futures (B, future_frames, H*W), float32."""
    batch = np.asarray(sequence_batch, np.float32)
    if batch.shape[1] < input_frames + future_frames:
        raise ConfigError(f"sequences have {batch.shape[1]} frames, fewer than `input_frames` + `future_frames` "
                          f"= {input_frames + future_frames}")
    flat = batch.reshape(batch.shape[0], batch.shape[1], -1)
    return flat[:, :input_frames], flat[:, input_frames:input_frames + future_frames]


def train_dataset(generator, global_batch_size, input_frames, future_frames, start_step=0, input_context=None):
    """Endless tf.data stream of (inputs, futures) per-replica batches from a BouncingMNIST generator.

    Args:
      generator: a `BouncingMNIST`.
      global_batch_size: sequences per optimizer step over all replicas.
      input_frames, future_frames: how each sequence is split.
      start_step: the first global step to produce (a resumed run passes its restored step).
      input_context: `tf.distribute.InputContext` (None: one pipeline, one replica).
    """
    ctx = input_context or tf.distribute.InputContext()
    if global_batch_size % ctx.num_replicas_in_sync:
        raise ConfigError(f"`batch_size` {global_batch_size} is not divisible by the "
                          f"{ctx.num_replicas_in_sync} replicas")
    per_replica = global_batch_size // ctx.num_replicas_in_sync
    local_replicas = ctx.num_replicas_in_sync // ctx.num_input_pipelines
    first_replica = ctx.input_pipeline_id * local_replicas
    frame_dim = generator.canvas_size ** 2

    def make(element):
        step, local = divmod(int(element), local_replicas)
        replica = first_replica + local
        batch = generator.batch(start_step + step, global_batch_size, replica * per_replica, per_replica)
        return split_frames(batch, input_frames, future_frames)

    def load(element):
        inputs, futures = tf.numpy_function(make, [element], [tf.float32, tf.float32], stateful=False)
        inputs.set_shape([per_replica, input_frames, frame_dim])
        futures.set_shape([per_replica, future_frames, frame_dim])
        return inputs, futures

    ds = tf.data.Dataset.counter().map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def array_dataset(sequence_array, batch_size, input_frames, future_frames):
    """Finite tf.data stream of (inputs, futures) batches from an in-memory (N, T, H, W) array, in order."""
    inputs, futures = split_frames(sequence_array, input_frames, future_frames)
    ds = tf.data.Dataset.from_tensor_slices((inputs, futures))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def validation_sequences(config):
    """The fixed validation set a config names, (N, T, H, W) in [0, 1]."""
    if config.val_dataset == "generated":
        return bouncing_generator(config, "test").sequences(np.arange(config.val_sequences))
    data = sequences.load_named(config.val_dataset, config.val_path, limit=config.val_sequences)
    if data.shape[2:] != config.frame_shape:
        raise ConfigError(f"`val_dataset` {config.val_dataset} has frames of {data.shape[2:]}, but `canvas_size` "
                          f"is {config.canvas_size}")
    return data
