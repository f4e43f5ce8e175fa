"""Input pipeline speed of any task against what its training consumes.

Usage (any vidrep-train flags apply):
  .venv/bin/python bench/pipeline_speed.py --flagfile=configs/quickstart.cfg --consumed=237
  .venv/bin/python bench/pipeline_speed.py --flagfile=configs/mmd_vae.cfg --data_file=frames.h5 --consumed=218
Times the task's `train_batch` (the whole per-step data work: generating or reading, cutting, standardizing) on one
core in this process, and the tf.data stream the trainer reads (`pipeline.train_dataset`, parallel as in training).
`--consumed` is what training takes in examples/s (bench/train_speed.py); the ratio says how far ahead the
pipeline is. Prints a table and one JSON line (--output_json writes it too).
"""
import tempfile
import time

import report
from absl import app, flags

from keras_vidrep.cli import common

common.define_config_flags()
flags.DEFINE_integer("batches", 50, "Batches timed (after one warm-up batch).")
flags.DEFINE_float("consumed", 0.0, "Examples per second that training consumes (0: no ratio).")
flags.DEFINE_string("output_json", "", "Also write the results here.")
flags.adopt_module_key_flags(common)
FLAGS = flags.FLAGS


def rate(produce, batches, batch_size):
    produce(0)
    start = time.perf_counter()
    for step in range(1, batches + 1):
        produce(step)
    return batches * batch_size / (time.perf_counter() - start)


def main(argv):
    del argv
    FLAGS.model_dir = tempfile.mkdtemp(prefix="vidrep-bench-")
    config = common.config_from_flags()
    from keras_vidrep import tasks
    from keras_vidrep.data import pipeline

    task = tasks.create(config)
    task.prepare_data()
    size = config.batch_size
    one_core = rate(lambda step: task.train_batch(step, size, 0, size), FLAGS.batches, size)
    stream = iter(pipeline.train_dataset(task, size))
    through_tf_data = rate(lambda step: next(stream), FLAGS.batches, size)
    result = {"task": config.task, "data": getattr(config, "data", ""), "batch_size": size,
              "examples_per_second_one_core": round(one_core, 1),
              "examples_per_second_tf_data": round(through_tf_data, 1)}
    if FLAGS.consumed:
        result["consumed_per_second"] = FLAGS.consumed
        result["ratio_one_core"] = round(one_core / FLAGS.consumed, 2)
        result["ratio_tf_data"] = round(through_tf_data / FLAGS.consumed, 2)
    report.emit(result, FLAGS.output_json)


if __name__ == "__main__":
    app.run(main)
