"""vidrep-viz: pictures of a trained model on chosen sequences.

  vidrep-viz --model_dir=runs/quickstart --sequences=0,1,2 --rollout=100 --out_dir=viz/

For each chosen sequence it writes:
  sequence_<i>.png  ground truth (input, then true future) over the model (reconstruction, then prediction);
  sequence_<i>.gif  animation: ground truth left, the model right;
  rollout_<i>.png / .gif   (with --rollout=N, checkpoints only) a free-running prediction of N frames.
"""
import os

from absl import app, flags

from keras_vidrep.cli import common

flags.DEFINE_string("model_dir", "", "Model directory written by vidrep-train.")
flags.DEFINE_string("checkpoint", "", "With --model_dir: a checkpoint prefix instead of the latest.")
flags.DEFINE_string("saved_model", "", "An exported SavedModel directory (instead of --model_dir).")
flags.DEFINE_enum("dataset", "generated", ["generated", "bouncing_mnist_test", "mnist_test_seq", "tfds_moving_mnist"],
                  "Sequences to show.")
flags.DEFINE_string("data_path", "", "File for bouncing_mnist_test / mnist_test_seq.")
flags.DEFINE_list("sequences", ["0", "1", "2"], "Indices of the sequences to show.")
flags.DEFINE_integer("num_digits", 2, "generated: digits per sequence.")
flags.DEFINE_integer("seed", 12345, "generated: seed.")
flags.DEFINE_integer("rollout", 0, "Also roll the model out free-running for this many frames (checkpoints only).")
flags.DEFINE_integer("fps", 4, "GIF frames per second.")
flags.DEFINE_string("out_dir", "viz", "Where the pictures go.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")

    def go():
        from keras_vidrep import evaluate, viz
        from keras_vidrep.errors import ConfigError

        if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
            raise ConfigError("give exactly one of `model_dir` and `saved_model`")
        try:
            indices = [int(i) for i in FLAGS.sequences]
        except ValueError:
            raise ConfigError(f"`sequences` must be comma-separated integers, got {','.join(FLAGS.sequences)!r}") \
                from None
        if not indices or min(indices) < 0:
            raise ConfigError(f"`sequences` must be non-negative indices, got {indices}")
        if FLAGS.rollout and FLAGS.saved_model:
            raise ConfigError("`rollout` needs --model_dir (a SavedModel predicts a fixed number of frames)")
        predictor = (evaluate.CheckpointPredictor(FLAGS.model_dir, FLAGS.checkpoint) if FLAGS.model_dir
                     else evaluate.SavedModelPredictor(FLAGS.saved_model))
        config = predictor.config
        t_in = config.input_frames if config else 10
        t_out = config.future_frames if config else 10
        data = evaluate.load_sequences(FLAGS.dataset, max(indices) + 1, t_in + t_out, FLAGS.data_path, FLAGS.seed,
                                       FLAGS.num_digits, config)[indices]
        inputs, futures = data[:, :t_in], data[:, t_in:t_in + t_out]
        recon = predictor.reconstruct(inputs)[:, ::-1] if predictor.reconstructs else [None] * len(data)
        pred = predictor.predict(inputs, t_out) if predictor.predicts else [None] * len(data)
        rollout = predictor.predict(inputs, FLAGS.rollout) if FLAGS.rollout and predictor.predicts else None
        os.makedirs(FLAGS.out_dir, exist_ok=True)
        written = []
        for k, index in enumerate(indices):
            out = os.path.join(FLAGS.out_dir, f"{{}}_{index}.{{}}")
            written.append(viz.save_png(viz.comparison_strip(inputs[k], futures[k], recon[k], pred[k]),
                                        out.format("sequence", "png")))
            written.append(viz.save_gif(viz.side_by_side_frames(inputs[k], futures[k], recon[k], pred[k]),
                                        out.format("sequence", "gif"), FLAGS.fps))
            if rollout is not None:
                written.append(viz.save_png(viz.rollout_grid(rollout[k]), out.format("rollout", "png")))
                written.append(viz.save_gif(rollout[k], out.format("rollout", "gif"), FLAGS.fps))
        print("\n".join(written))

    common.run_main(go, "vidrep-viz")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
