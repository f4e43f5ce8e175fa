"""Rollout cost of an exported SavedModel: `predict_future` latency against the number of frames asked for, in a
plain TensorFlow process, beside the same model called in the process that built it.

Usage:
  .venv/bin/python bench/rollout_speed.py --saved_model=saved_models/quickstart
  .venv/bin/python bench/rollout_speed.py --units=256 --batch=8       # a fresh quickstart-sized model, exported
A child process that cannot import keras_vidrep loads the SavedModel with TensorFlow alone and times
`signatures["predict_future"](frames, steps)` for each length (median of --repeats calls after one warm-up call);
for a fresh model, this process also times the Keras model's own `future_logits` in a tf.function. Prints a table
(ms per call and sequences/s), the SavedModel's least-squares line (ms per frame and fixed cost) with its worst
relative deviation, and one JSON line; --output_json writes the JSON too.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
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


# Run by a child interpreter in which importing keras_vidrep fails: the SavedModel alone, in plain TensorFlow.
PLAIN_TF = textwrap.dedent("""
    import importlib.abc, json, statistics, sys, time
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "keras_vidrep":
                raise ImportError("the SavedModel must run without keras_vidrep")
    sys.meta_path.insert(0, Block())
    import numpy as np, tensorflow as tf
    path, batch, lengths, repeats = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
    predict = tf.saved_model.load(path).signatures["predict_future"]
    shape = predict.structured_input_signature[1]["frames"].shape
    frames = tf.constant(np.random.default_rng(0).random((batch, *shape[1:]), dtype=np.float32))
    out = {}
    for length in lengths:
        steps = tf.constant(length, tf.int32)
        predict(frames=frames, steps=steps)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            assert predict(frames=frames, steps=steps)["future"].shape[1] == length
            times.append(time.perf_counter() - start)
        out[length] = statistics.median(times)
    print(json.dumps(out))
""")


def fresh_model(units):
    """A quickstart-sized composite model of `units` and its export: (model, SavedModel path)."""
    from keras_vidrep import tasks
    from keras_vidrep.config import Config
    from keras_vidrep.export import build_archive

    config = Config("composite", model_dir=tempfile.mkdtemp(prefix="vidrep-bench-"),
                    units=tuple(int(u) for u in units))
    task = tasks.create(config.validate())
    model = task.build_model()
    path = tempfile.mkdtemp(prefix="vidrep-bench-export-")
    build_archive(model, task).write_out(path, verbose=False)
    return model, path


def in_process(model, lengths, batch, repeats):
    """{length: median seconds} of the Keras model's own free-running rollout, traced once for any length."""
    import tensorflow as tf

    rollout = tf.function(lambda x, steps: model.future_logits(x, steps), autograph=False)
    x = tf.constant(np.random.default_rng(0).random((batch, model.input_frames, model.frame_dim), np.float32))
    out = {}
    for length in lengths:
        steps = tf.constant(length, tf.int32)
        rollout(x, steps)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            np.asarray(rollout(x, steps))
            times.append(time.perf_counter() - start)
        out[length] = statistics.median(times)
    return out


def main(argv):
    del argv
    lengths = [int(n) for n in FLAGS.lengths]
    model, path = (None, FLAGS.saved_model) if FLAGS.saved_model else fresh_model(FLAGS.units)
    child = subprocess.run([sys.executable, "-c", PLAIN_TF, path, str(FLAGS.batch), json.dumps(lengths),
                            str(FLAGS.repeats)], capture_output=True, text=True, env=dict(os.environ,
                                                                                          TF_CPP_MIN_LOG_LEVEL="2"))
    if child.returncode:
        raise SystemExit(f"the plain-TensorFlow process failed:\n{child.stderr[-3000:]}")
    plain = {int(k): v for k, v in json.loads(child.stdout.strip().splitlines()[-1]).items()}
    keras_side = in_process(model, lengths, FLAGS.batch, FLAGS.repeats) if model is not None else {}
    rows = [{"frames": n, "ms": round(1000 * plain[n], 2),
             "sequences_per_second": round(FLAGS.batch / plain[n], 1),
             **({"in_process_ms": round(1000 * keras_side[n], 2)} if keras_side else {})} for n in lengths]
    x = np.array(lengths, float)
    y = np.array([r["ms"] for r in rows], float)
    slope, intercept = np.polyfit(x, y, 1)
    worst = float(np.max(np.abs(slope * x + intercept - y) / y))
    print(f"{'frames':>8s} {'ms/call':>10s} {'ms/frame':>10s} {'seq/s':>10s}"
          + (f" {'in-process ms':>14s}" if keras_side else ""))
    for r in rows:
        print(f"{r['frames']:8d} {r['ms']:10.2f} {r['ms'] / r['frames']:10.3f} {r['sequences_per_second']:10.1f}"
              + (f" {r['in_process_ms']:14.2f}" if keras_side else ""))
    print(f"SavedModel, plain TensorFlow: {slope:.3f} ms per frame + {intercept:.2f} ms; worst deviation from the "
          f"line {100 * worst:.1f}%")
    result = {"saved_model": path, "batch": FLAGS.batch, "rows": rows, "ms_per_frame": round(slope, 4),
              "fixed_ms": round(intercept, 3), "worst_relative_deviation": round(worst, 4)}
    report.emit(result, FLAGS.output_json, table="")


if __name__ == "__main__":
    app.run(main)
