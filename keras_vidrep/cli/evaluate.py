"""vidrep-eval: evaluates a model directory (its checkpoint) or an exported SavedModel on a sequence set.

  vidrep-eval --model_dir=runs/quickstart --dataset=generated --num_sequences=1000 --output_json=eval.json
  vidrep-eval --saved_model=saved_models/quickstart --dataset=mnist_test_seq --data_path=mnist_test_seq.npy
  vidrep-eval --model_dir=runs/quickstart --num_digits=3 --future_frames=30      # out of domain
  vidrep-eval --model_dir=runs/ucf_fc6_classifier --val_clip_stride=1     # a classifier: every clip of its files

Prints a table of overall means, writes every number (with per-horizon values) to --output_json and per-horizon
curves to --plot. For a classifier run it computes its validation numbers (clip and video accuracy) on its
validation files, at --val_clip_stride, batch by batch, and writes them to --output_json. The protocol:
keras_vidrep.analysis.evaluate.
"""
from keras_vidrep.analysis.options import EvalOptions
from keras_vidrep.cli import common

common.define_option_flags(EvalOptions)


def main():
    options = common.checked_options(EvalOptions)
    from keras_vidrep.analysis import evaluate

    evaluate.run_eval(options)


def run():
    common.run_app(main, __name__, "vidrep-eval")


if __name__ == "__main__":
    run()
