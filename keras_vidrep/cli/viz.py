"""vidrep-viz: pictures of a trained model on chosen sequences.

  vidrep-viz --model_dir=runs/quickstart --sequences=0,1,2 --rollout=100 --out_dir=viz/

  vidrep-viz --saved_model=saved_models/quickstart --rollout=100

  vidrep-viz --codes=codes.h5 --out_dir=maps/ [--perplexities=5,30,50 --clusters=6 --labels_file=labels.txt]

For each chosen sequence it writes (every picture labelled: truth | model, input | future, frame numbers):
  sequence_<i>.png  ground truth (input, then true future) over the model (reconstruction, then prediction);
  sequence_<i>.gif  animation: ground truth left, the model right;
  rollout_<i>.png / .gif   (with --rollout=N) a free-running prediction of N frames beside the truth, which ends
                    after the model's trained future length (a red line and `no truth` mark where).
With --codes (a file of vidrep-embed) it draws the codes instead (see keras_vidrep.analysis.code_maps): tsne.png,
clusters.png + clusters.csv, timeline.png, patterns.png and learning_curve.png (from the run's TensorBoard logs).
"""
from keras_vidrep.analysis.options import VizOptions
from keras_vidrep.cli import common

common.define_option_flags(VizOptions)


def main():
    options = common.checked_options(VizOptions, then_load_tensorflow=False)
    if options.codes:  # the codes file and the maps' options are checked before TensorFlow loads
        from keras_vidrep.analysis import code_maps

        perplexities = options.perplexity_values()
        codes = code_maps.read_checked(options.codes, perplexities, options.clusters, options.labels_file,
                                       options.max_points, options.map_seed())
        common.load_tensorflow()
        written = code_maps.draw_all(codes, options.out_dir, perplexities, options.clusters, options.model_dir,
                                     options.map_seed())
    else:
        common.load_tensorflow()
        from keras_vidrep.analysis import viz

        written = viz.draw(options)
    print("\n".join(written))


def run():
    common.run_app(main, __name__, "vidrep-viz")


if __name__ == "__main__":
    run()
