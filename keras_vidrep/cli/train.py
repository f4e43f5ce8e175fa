"""vidrep-train: trains a model from flags (usually `--flagfile=configs/<experiment>.cfg`)."""
import json

from absl import app, flags

from keras_vidrep.cli import common

common.define_config_flags()
flags.adopt_module_key_flags(common)  # so that --help lists them
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")

    def go():
        config = common.config_from_flags()
        from keras_vidrep.training import loop  # imports TensorFlow; after flag parsing so --help is fast

        print(json.dumps(loop.train(config), sort_keys=True))

    common.run_main(go, "vidrep-train")


def run():
    common.run_app(main, __name__)


if __name__ == "__main__":
    run()
