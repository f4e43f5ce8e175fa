"""One worker of a MultiWorkerMirroredStrategy cluster (from TF_CONFIG) reading a composite task's training batches
from a patches file through the trainer's own input pipeline; prints, as one JSON line, the file rows of the
sequences its replicas received (found by content), in the order received, and the items its task kept to.

  python two_worker_reads.py DATA_FILE STEPS GLOBAL_BATCH
"""
import json
import sys

import numpy as np
import tensorflow as tf

from keras_vidrep import tasks
from keras_vidrep.config import Config
from keras_vidrep.data import pipeline
from keras_vidrep.data.patches import SequenceFile

data_file, steps, global_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
strategy = tf.distribute.MultiWorkerMirroredStrategy()
config = Config(data="patches", data_file=data_file, frame_size=16, seq_length=8, input_frames=4, future_frames=4,
                val_dataset="patches", val_path=data_file, val_sequences=4, batch_size=global_batch, seed=3)
task = tasks.create(config)
task.prepare_data()
everything = SequenceFile(data_file, 8, (16, 16, 3)).first()
rows = {np.round(s * 255).astype(np.uint8).tobytes(): i for i, s in enumerate(everything)}
assert len(rows) == len(everything), "the test data must hold distinct sequences"

batches = iter(strategy.distribute_datasets_from_function(
    lambda ctx: pipeline.train_dataset(task, global_batch, 0, ctx)))
read = []
for _ in range(steps):
    for inputs, futures in (b for b in strategy.experimental_local_results(next(batches))):
        sequences = np.concatenate([inputs.numpy(), futures.numpy()], axis=1).reshape(-1, 8, 16, 16, 3)
        read += [rows[np.round(s * 255).astype(np.uint8).tobytes()] for s in sequences]
# Sequences read by all workers, summed over the cluster: also keeps the workers together until both are done.
total = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(len(read), tf.int64)), None)
owned = task.source.items if task.source.owner else None
print(json.dumps({"rows": read, "owned": None if owned is None else list(owned), "total": int(total)}))
