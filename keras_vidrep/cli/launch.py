"""vidrep-launch: runs N local vidrep-train workers under MultiWorkerMirroredStrategy, for trying multi-worker
training on one machine.

  vidrep-launch --workers=2 -- --flagfile=configs/quickstart.cfg --model_dir=runs/two_workers

Each worker gets a TF_CONFIG naming every worker on a free 127.0.0.1 port and `--strategy=multi_worker`. Worker 0
(the chief) prints to this terminal and writes the model directory; the others log to `--worker_logs`. If a worker
fails, the others are killed (a worker blocked on a missing peer ignores SIGTERM) and the launcher exits non-zero.
On a real cluster, set TF_CONFIG on each machine yourself and run vidrep-train --strategy=multi_worker there.
"""
import os
import sys
import tempfile

from absl import flags

from keras_vidrep.cli import common

flags.DEFINE_integer("workers", 2, "Number of local worker processes.")
flags.DEFINE_string("worker_logs", "", "Where workers 1..N-1 write their logs (default: a new temporary directory).")
FLAGS = flags.FLAGS


def main(train_args):
    from keras_vidrep.errors import ConfigError

    if FLAGS.workers < 1:
        raise ConfigError(f"`workers` must be a positive integer, got {FLAGS.workers}")
    common.load_tensorflow()
    from keras_vidrep.training import local_cluster

    log_dir = FLAGS.worker_logs or tempfile.mkdtemp(prefix="vidrep-workers-")
    os.makedirs(log_dir, exist_ok=True)
    sys.exit(local_cluster.launch(FLAGS.workers, train_args, log_dir))


def run():
    common.run_app(main, __name__, "vidrep-launch", positional=True)


if __name__ == "__main__":
    run()
