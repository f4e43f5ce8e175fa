"""Rollout cost of an exported SavedModel: `predict_future` latency against the number of frames asked for.

Usage:
  .venv/bin/python bench/rollout_speed.py --saved_model=saved_models/quickstart
  .venv/bin/python bench/rollout_speed.py --units=256 --batch=8       # a fresh quickstart-sized model, exported
Loads the SavedModel with TensorFlow alone and times `signatures["predict_future"](frames, steps)` for each
length (median of --repeats calls after one warm-up call). Prints a table, a least-squares line (ms per frame
and fixed cost) with its worst relative deviation, and one JSON line; --output_json writes the JSON too.
"""
import statistics
import tempfile
import time

import numpy as np
import report
from absl import app, flags

flags.DEFINE_string("saved_model", "", "A SavedModel with predict_future(frames, steps); empty: export a fresh "
                                       "model of --units first.")
flags.DEFINE_list("units", ["256"], "Units of the fresh model (no --saved_model).")
flags.DEFINE_list("lengths", ["10", "25", "50", "100", "200", "400"], "Frames to predict.")
flags.DEFINE_integer("batch", 8, "Sequences per call.")
flags.DEFINE_integer("repeats", 5, "Timed calls per length.")
flags.DEFINE_string("output_json", "", "Also write the results here.")
FLAGS = flags.FLAGS


def fresh_export(units):
    from keras_vidrep import tasks
    from keras_vidrep.config import Config
    from keras_vidrep.export import build_archive

    config = Config("composite", model_dir=tempfile.mkdtemp(prefix="vidrep-bench-"),
                    units=tuple(int(u) for u in units))
    task = tasks.create(config.validate())
    path = tempfile.mkdtemp(prefix="vidrep-bench-export-")
    build_archive(task.build_model(), task).write_out(path, verbose=False)
    return path


def main(argv):
    del argv
    import tensorflow as tf

    path = FLAGS.saved_model or fresh_export(FLAGS.units)
    loaded = tf.saved_model.load(path)
    predict = loaded.signatures["predict_future"]
    shape = predict.structured_input_signature[1]["frames"].shape
    frames = tf.constant(np.random.default_rng(0).random((FLAGS.batch, *shape[1:]), dtype=np.float32))
    rows = []
    for length in (int(n) for n in FLAGS.lengths):
        steps = tf.constant(length, tf.int32)
        predict(frames=frames, steps=steps)  # warm-up
        times = []
        for _ in range(FLAGS.repeats):
            start = time.perf_counter()
            out = predict(frames=frames, steps=steps)["future"]
            times.append(time.perf_counter() - start)
        assert out.shape[1] == length
        rows.append({"frames": length, "ms": round(1000 * statistics.median(times), 2)})
    x = np.array([r["frames"] for r in rows], float)
    y = np.array([r["ms"] for r in rows], float)
    slope, intercept = np.polyfit(x, y, 1)
    worst = float(np.max(np.abs(slope * x + intercept - y) / y))
    print(f"{'frames':>8s} {'ms/call':>10s} {'ms/frame':>10s}")
    for r in rows:
        print(f"{r['frames']:8d} {r['ms']:10.2f} {r['ms'] / r['frames']:10.3f}")
    print(f"line: {slope:.3f} ms per frame + {intercept:.2f} ms; worst deviation from it {100 * worst:.1f}%")
    result = {"saved_model": path, "batch": FLAGS.batch, "rows": rows, "ms_per_frame": round(slope, 4),
              "fixed_ms": round(intercept, 3), "worst_relative_deviation": round(worst, 4)}
    report.emit(result, FLAGS.output_json, table="")


if __name__ == "__main__":
    app.run(main)
