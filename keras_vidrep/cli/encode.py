"""vidrep-encode (also installed as vidrep-embed): what a trained model says of new videos — codes, or a
classifier's classes by name — one per clip of the model's input length and one per video, from a run
(`--model_dir`) or its export (`--saved_model`), in CODES.h5 with a Projector folder beside it; or the codes of a
package data file (`--data_file`: every frame of a frames file, every window of a features file).

  vidrep-encode --model_dir=runs/quickstart --videos=my_videos/ --output=codes.h5 [--stride=5] [--predict_frames=10]
  vidrep-encode --saved_model=saved_models/quickstart --videos="a.mp4,b.avi" --output=codes.h5
  vidrep-encode --model_dir=runs/ucf_classifier --videos=UCF-101/ --output=classes.h5 --top_k=5   # + CSV tables
  vidrep-encode --model_dir=runs/mmd_vae --data_file=frames.h5 --output=codes.h5 [--log_variances]

The protocol and the files' layout: keras_vidrep.analysis.encode (videos), keras_vidrep.analysis.embed (data files).
"""
import os
import sys

from keras_vidrep.analysis.options import EncodeOptions
from keras_vidrep.cli import common

common.define_option_flags(EncodeOptions)


def main():
    options = common.checked_options(EncodeOptions)
    from keras_vidrep.analysis import encode

    encode.encode(options)


def run():
    called = os.path.basename(sys.argv[0])  # errors name the command as it was called
    common.run_app(main, __name__, called if called == "vidrep-embed" else "vidrep-encode")


if __name__ == "__main__":
    run()
