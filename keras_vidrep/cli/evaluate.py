"""vidrep-eval: evaluates a model directory (its checkpoint) or an exported SavedModel on a sequence set.

  vidrep-eval --model_dir=runs/quickstart --dataset=generated --num_sequences=1000 --output_json=eval.json
  vidrep-eval --saved_model=saved_models/quickstart --dataset=mnist_test_seq --data_path=mnist_test_seq.npy
  vidrep-eval --model_dir=runs/quickstart --num_digits=3 --future_frames=30      # out of domain
  vidrep-eval --model_dir=runs/ucf_fc6_classifier --val_clip_stride=1     # a classifier: every clip of its files

Prints a table of overall means, writes every number (with per-horizon values) to --output_json and per-horizon
curves to --plot. For a classifier run it computes its validation numbers (clip and video accuracy) on its
validation files, at --val_clip_stride, batch by batch, and writes them to --output_json.
"""
import json
import os

from absl import flags

from keras_vidrep.cli import common

common.define_model_source_flags()
flags.DEFINE_integer("num_sequences", 1000, "Sequences evaluated (the first N of a file; read batch by batch, so "
                                            "any number fits in memory).")
flags.DEFINE_integer("future_frames", 0, "Future frames to predict (0: the model's own); more than trained on to "
                                         "test long-range prediction.")
flags.DEFINE_integer("batch_size", 64, "Sequences per prediction batch.")
flags.DEFINE_integer("val_clip_stride", 0, "A classifier run: frames between the clips of a validation video (1: "
                                           "every clip, the original evaluation; 0: the run's own).")
flags.DEFINE_string("output_json", "", "Write all results here.")
flags.DEFINE_string("plot", "", "Write per-horizon curves (PNG) here.")
flags.DEFINE_string("summary_dir", "", "With --model_dir: TensorBoard scalars of the overall means go here, at the "
                    "checkpoint's step (empty: <model_dir>/eval; `none`: not written).")
FLAGS = flags.FLAGS


def go():
    from keras_vidrep.analysis import evaluate
    from keras_vidrep.errors import ConfigError

    for name in ("num_sequences", "num_digits", "batch_size"):
        if FLAGS[name].value <= 0:
            raise ConfigError(f"`{name}` must be a positive integer, got {FLAGS[name].value}")
    if FLAGS.model_dir and _task_of(FLAGS.model_dir) == "classifier":
        return validate_classifier()
    predictor = evaluate.predictor(FLAGS.model_dir, FLAGS.saved_model, FLAGS.checkpoint)
    input_frames, future = predictor.input_frames, FLAGS.future_frames or predictor.future_frames
    data = evaluate.open_sequences(FLAGS.dataset, FLAGS.num_sequences, input_frames + future, predictor.frame_shape,
                                   FLAGS.data_path, FLAGS.seed, FLAGS.num_digits, predictor.config)
    results = evaluate.evaluate(predictor, data, input_frames, future, predictor.output, FLAGS.batch_size,
                                mean=evaluate.mean_training_frame(predictor.config))
    results["info"].update(source=predictor.source, dataset=FLAGS.dataset, num_digits=FLAGS.num_digits,
                           seed=FLAGS.seed)
    clip = results["info"]["probability_clip"]
    print(f"{predictor.source} on {FLAGS.dataset}: {len(data)} sequences, {input_frames} input -> {future} "
          f"future frames; loss = {results['info']['loss']}"
          + (f" (from the model's logits; baseline probabilities clipped to [{clip:g}, 1-{clip:g}])"
             if predictor.output == "sigmoid" else ""))
    print(evaluate.format_table(results))
    for path, write in ((FLAGS.output_json, evaluate.write_json), (FLAGS.plot, evaluate.plot_per_horizon)):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            print(f"wrote {write(results, path)}")
    if FLAGS.model_dir and FLAGS.summary_dir != "none":
        from keras_vidrep.runs import checkpoints

        summary_dir = FLAGS.summary_dir or os.path.join(FLAGS.model_dir, "eval")
        evaluate.write_eval(summary_dir, results, checkpoints.step_of(predictor.source))
        print(f"wrote TensorBoard scalars to {summary_dir}")
    if not FLAGS.output_json:
        print(json.dumps({k: {m: v["mean"] for m, v in r.items()} for k, r in results.items() if k != "info"}))


def _task_of(model_dir):
    from keras_vidrep.config import Config
    from keras_vidrep.runs.directory import CONFIG_FILE

    return Config.load(model_dir).task if os.path.isfile(os.path.join(model_dir, CONFIG_FILE)) else ""


def validate_classifier():
    from keras_vidrep.analysis import evaluate
    from keras_vidrep.errors import ConfigError

    if FLAGS.val_clip_stride < 0:
        raise ConfigError(f"`val_clip_stride` must be positive (or 0: the run's own), got {FLAGS.val_clip_stride}")
    changes = {"val_clip_stride": FLAGS.val_clip_stride} if FLAGS.val_clip_stride else {}
    numbers, path = evaluate.validate_run(FLAGS.model_dir, FLAGS.checkpoint, FLAGS.batch_size, **changes)
    print(f"{path}: " + ", ".join(f"{k} {v:.4f}" for k, v in numbers.items()))
    if FLAGS.output_json:
        os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output_json)), exist_ok=True)
        evaluate.write_json({"validation": numbers, "checkpoint": path, **changes}, FLAGS.output_json)
        print(f"wrote {FLAGS.output_json}")
    else:
        print(json.dumps(numbers))


def run():
    common.run_app(go, __name__, "vidrep-eval")


if __name__ == "__main__":
    run()
