"""vidrep-train: trains a model from flags (usually `--flagfile=configs/<experiment>.cfg`)."""
import json

from absl import flags

from keras_vidrep.cli import common

common.define_config_flags()
FLAGS = flags.FLAGS


def main():
    config = common.config_from_flags()
    from keras_vidrep.training import loop  # imports TensorFlow; after flag parsing so --help is fast

    print(json.dumps(loop.train(config), sort_keys=True))


def run():
    common.run_app(main, __name__, "vidrep-train")


if __name__ == "__main__":
    run()
