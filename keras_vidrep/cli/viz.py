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
import os

from absl import flags

from keras_vidrep.cli import common

common.define_model_source_flags()
flags.DEFINE_list("sequences", ["0", "1", "2"], "Indices of the sequences to show.")
flags.DEFINE_integer("rollout", 0, "Also roll the model out free-running for this many frames.")
flags.DEFINE_integer("fps", 4, "GIF frames per second.")
flags.DEFINE_string("out_dir", "viz", "Where the pictures go.")
flags.DEFINE_string("codes", "", "Draw the codes of this vidrep-embed output (.h5 or .npy) instead of a model.")
flags.DEFINE_list("perplexities", ["5", "30", "50"], "--codes: t-SNE perplexities, side by side.")
flags.DEFINE_integer("clusters", 6, "--codes: clusters of k-means and of agglomerative clustering.")
flags.DEFINE_string("labels_file", "", "--codes: one label per video (a line each, in the codes' video order) to "
                                       "colour the t-SNE maps by, instead of the video.")
flags.DEFINE_integer("max_points", 5000, "--codes: draw a seeded random subsample of this many codes from a larger "
                                        "file (t-SNE and Ward clustering grow with the square of the points).")
FLAGS = flags.FLAGS


def draw_codes():
    from keras_vidrep.analysis import code_maps
    from keras_vidrep.errors import ConfigError

    try:
        perplexities = [float(p) for p in FLAGS.perplexities]
    except ValueError:
        raise ConfigError(f"`perplexities` must be comma-separated numbers, got {','.join(FLAGS.perplexities)!r}") \
            from None
    if FLAGS.max_points < 3:
        raise ConfigError(f"`max_points` must be at least 3, got {FLAGS.max_points}")
    if not perplexities or min(perplexities) <= 0:
        raise ConfigError(f"`perplexities` must be positive, got {perplexities}")
    print("\n".join(code_maps.write_all(FLAGS.codes, FLAGS.out_dir, perplexities, FLAGS.clusters,
                                        FLAGS.labels_file, FLAGS.model_dir, FLAGS.seed if FLAGS["seed"].present
                                        else 0, FLAGS.max_points)))


def go():
    from keras_vidrep import pictures
    from keras_vidrep.analysis import evaluate
    from keras_vidrep.errors import ConfigError

    if FLAGS.codes:
        return draw_codes()
    try:
        indices = [int(i) for i in FLAGS.sequences]
    except ValueError:
        raise ConfigError(f"`sequences` must be comma-separated integers, got {','.join(FLAGS.sequences)!r}") \
            from None
    if not indices or min(indices) < 0:
        raise ConfigError(f"`sequences` must be non-negative indices, got {indices}")
    if FLAGS.rollout < 0:
        raise ConfigError(f"`rollout` must be >= 0, got {FLAGS.rollout}")
    predictor = evaluate.predictor(FLAGS.model_dir, FLAGS.saved_model, FLAGS.checkpoint)
    t_in, t_out = predictor.input_frames, predictor.future_frames or 10
    if len(predictor.frame_shape) == 1:
        raise ConfigError(f"the model reads feature vectors {predictor.frame_shape}, not images: nothing to draw")
    data = evaluate.open_sequences(FLAGS.dataset, max(indices) + 1, t_in + t_out, predictor.frame_shape,
                                   FLAGS.data_path, FLAGS.seed, FLAGS.num_digits, predictor.config).take(indices)
    inputs, futures = data[:, :t_in], data[:, t_in:t_in + t_out]
    # The strips take the reconstruction in the model's reversed order, as training summaries do.
    recon = predictor.reconstruct(inputs)[0][:, ::-1] if predictor.reconstructs else [None] * len(data)
    pred = predictor.predict(inputs, t_out)[0] if predictor.predicts else [None] * len(data)
    rollout = predictor.predict(inputs, FLAGS.rollout)[0] if FLAGS.rollout and predictor.predicts else None
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    written = []
    for k, index in enumerate(indices):
        out = os.path.join(FLAGS.out_dir, f"{{}}_{index}.{{}}")
        written.append(pictures.save_png(pictures.comparison_strip(inputs[k], futures[k], recon[k], pred[k]),
                                    out.format("sequence", "png")))
        written.append(pictures.save_gif(pictures.side_by_side_frames(inputs[k], futures[k], recon[k], pred[k]),
                                    out.format("sequence", "gif"), FLAGS.fps))
        if rollout is not None:
            written.append(pictures.save_png(pictures.comparison_strip(inputs[k], futures[k], recon[k], rollout[k]),
                                        out.format("rollout", "png")))
            written.append(pictures.save_gif(pictures.side_by_side_frames(inputs[k], futures[k], recon[k], rollout[k]),
                                        out.format("rollout", "gif"), FLAGS.fps))
    print("\n".join(written))


def run():
    common.run_app(go, __name__, "vidrep-viz")


if __name__ == "__main__":
    run()
