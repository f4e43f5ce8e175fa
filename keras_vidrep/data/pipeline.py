"""tf.data pipelines for any task: an endless per-replica training stream and finite in-order validation batches
(read from their files a few batches ahead of the model, never whole in memory).

The training stream is built per input pipeline from a `tf.distribute.InputContext`: element `e` of pipeline `p`
holds replica `p * local_replicas + e % local_replicas`'s share of global batch number `start_step +
e // local_replicas`, produced by the task's `train_batch(step, global_batch_size, start, count)`. The global batch
for a step is therefore the same whatever the number of replicas or workers, and a resumed run continues exactly
where the interrupted one stopped.

A sharded data file (keras_vidrep.data.shards) read by several input pipelines (MultiWorkerMirroredStrategy's
workers) is split by file instead: pipeline p keeps to shards p, p + P, ... and walks them on its own, in a fresh
order every pass, so that each worker opens only its own files and, in each worker's pass, reads each of its
examples once: its share of a global batch is its own next `global_batch_size / P` examples (see
`streams.batch_ids`). Which examples make a batch then depends on the number of workers (not on the replicas per
worker); per-example noise (scheduled sampling, dropout) still follows the global example number, and a resumed run
with the same workers continues where it stopped.
"""
import numpy as np
import tensorflow as tf

from keras_vidrep.errors import ConfigError


def train_dataset(task, global_batch_size, start_step=0, input_context=None):
    """Endless tf.data stream of a task's per-replica training batches (tuples of tensors).

    Args:
      task: a `keras_vidrep.tasks.base.Task` whose data is prepared.
      global_batch_size: examples per optimizer step over all replicas.
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
    signature = task.train_signature(per_replica)
    if ctx.num_input_pipelines > 1:
        task.own_shards(ctx.input_pipeline_id, ctx.num_input_pipelines)  # a sharded file: this worker's shards

    def make(element):
        step, local = divmod(int(element), local_replicas)
        replica = first_replica + local
        arrays = task.train_batch(start_step + step, global_batch_size, replica * per_replica, per_replica)
        return [a.astype(dtype, copy=False) for a, (_, dtype) in zip(arrays, signature)]

    def load(element):
        tensors = tf.numpy_function(make, [element], [tf.as_dtype(dtype) for _, dtype in signature], stateful=False)
        for tensor, (shape, _) in zip(tensors, signature):
            tensor.set_shape(shape)
        return tuple(tensors)

    ds = tf.data.Dataset.counter().map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def streamed_dataset(streamed_set, batch_size, parallel_reads=2):
    """Finite tf.data stream of a `ValidationSet`'s batches (tuples of arrays), in order, read by `parallel_reads`
    threads a few batches ahead of their consumer: memory holds a handful of batches whatever the set's size."""
    count = len(streamed_set)
    probe = streamed_set.read(np.arange(min(1, count)))  # the dtypes and example shapes
    dtypes = [tf.as_dtype(np.asarray(a).dtype) for a in probe]

    def read(index):
        start = int(index) * batch_size
        return [np.asarray(a) for a in streamed_set.read(np.arange(start, min(start + batch_size, count)))]

    def load(index):
        tensors = tf.numpy_function(read, [index], dtypes, stateful=False)
        for tensor, example in zip(tensors, probe):
            tensor.set_shape((None, *np.shape(example)[1:]))
        return tuple(tensors)

    batches = -(-count // batch_size)
    return tf.data.Dataset.range(batches).map(load, num_parallel_calls=parallel_reads, deterministic=True) \
        .prefetch(parallel_reads)
