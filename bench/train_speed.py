"""Training speed: optimizer steps per second of the real distributed train step, after warm-up.

Usage (any vidrep-train flags apply):
  .venv/bin/python bench/train_speed.py --flagfile=configs/quickstart.cfg --steps=50
  .venv/bin/python bench/train_speed.py --flagfile=configs/bouncing_mnist.cfg --digits=sklearn --steps=5
Prints one JSON line: steps/s, examples/s and the settings that matter for speed.
"""
import json
import tempfile
import time

from absl import app, flags

from keras_vidrep.cli import common

common.define_config_flags()
flags.DEFINE_integer("steps", 30, "Timed steps (after 2 warm-up steps, which include tracing).")
flags.adopt_module_key_flags(common)  # so that --help lists them
FLAGS = flags.FLAGS


def main(argv):
    del argv
    common.quiet_tensorflow()
    FLAGS.model_dir = tempfile.mkdtemp(prefix="vidrep-bench-")
    FLAGS.export = False
    config = common.config_from_flags()
    from keras_vidrep.data import pipeline
    from keras_vidrep.training import loop

    trainer = loop.Trainer(config)
    dataset = trainer.strategy.distribute_datasets_from_function(
        lambda ctx: pipeline.train_dataset(trainer.task, config.batch_size, input_context=ctx))
    iterator = iter(dataset)
    for _ in range(2):
        float(trainer._train_step(iterator)["total"])
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        float(trainer._train_step(iterator)["total"])
    elapsed = time.perf_counter() - start
    print(json.dumps({"task": config.task, "steps_per_second": round(FLAGS.steps / elapsed, 3),
                      "examples_per_second": round(FLAGS.steps * config.batch_size / elapsed, 1),
                      "batch_size": config.batch_size, "replicas": trainer.strategy.num_replicas_in_sync,
                      **{k: v for k, v in config.to_dict().items() if k in ("units", "data")},
                      "frame_shape": list(getattr(config, "frame_shape", []))}))


if __name__ == "__main__":
    app.run(main)
