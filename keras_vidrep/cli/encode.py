"""vidrep-encode: codes of new videos — one per clip of the model's input length and one per video — from a run
(`--model_dir`) or its export (`--saved_model`), in CODES.h5 with a Projector folder beside it.

  vidrep-encode --model_dir=runs/quickstart --videos=my_videos/ --output=codes.h5 [--stride=5]
  vidrep-encode --saved_model=saved_models/quickstart --videos="a.mp4,b.avi" --output=codes.h5

The protocol and the file's layout: keras_vidrep.analysis.encode.
"""
from keras_vidrep.analysis.options import EncodeOptions
from keras_vidrep.cli import common

common.define_option_flags(EncodeOptions)


def main():
    from keras_vidrep.analysis import encode

    encode.encode(common.options_from_flags(EncodeOptions))


def run():
    common.run_app(main, __name__, "vidrep-encode")


if __name__ == "__main__":
    run()
