"""vidrep-ablation: trains and evaluates the paper's four variants at a chosen scale and writes a markdown table.

  vidrep-ablation --train_steps=1000 --units=256 --out_dir=runs/ablation

Variants (configs/ablation/*.cfg): future predictor, composite model, conditional future predictor, composite model
with conditional future predictor. Each is trained with vidrep-train (resuming if its directory already holds a
run), then evaluated with vidrep-eval on the same generated held-out set; the table (`<out_dir>/ablation.md`) lists
free-running and teacher-forced future prediction next to the baselines.
"""
import json
import os
import subprocess
import sys

from absl import app, flags

from keras_vidrep.cli import common

flags.DEFINE_string("out_dir", "runs/ablation", "One model directory per variant goes here, and ablation.md.")
flags.DEFINE_integer("train_steps", 1000, "Training steps of each variant.")
flags.DEFINE_list("units", ["256"], "LSTM units per layer.")
flags.DEFINE_integer("eval_sequences", 500, "Held-out generated sequences evaluated.")
flags.DEFINE_string("configs", "configs/ablation", "Folder of the four variant flagfiles.")
FLAGS = flags.FLAGS

VARIANTS = (("future", "Future predictor"), ("composite", "Composite model"),
            ("conditional_future", "Conditional future predictor"),
            ("composite_conditional_future", "Composite model with conditional future predictor"))


def run_tool(module, *args):
    command = [sys.executable, "-m", module, *args]
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command)
    if result.returncode:
        sys.exit(f"vidrep-ablation: error: {module} failed with exit code {result.returncode}")


def table(results, info):
    """Markdown table of the evaluated variants and the baselines (overall means)."""
    loss = "nats" if info["output"] == "sigmoid" else "0.5·SE"
    lines = [f"| model | future {loss}/frame, free-running | future {loss}/frame, teacher-forced | "
             f"reconstruction {loss}/frame | future MSE | future SSIM |", "| --- | ---: | ---: | ---: | ---: | ---: |"]

    def cell(row, metric, fmt="{:.1f}"):
        return fmt.format(row[metric]["mean"]) if row else "–"

    for name, label in VARIANTS:
        r = results[name]
        free = r["future/free_running"]
        lines.append(f"| {label} | {cell(free, 'loss')} | {cell(r.get('future/teacher_forced'), 'loss')} | "
                     f"{cell(r.get('reconstruction'), 'loss')} | {cell(free, 'mse')} | "
                     f"{cell(free, 'ssim', '{:.3f}')} |")
    any_result = results[VARIANTS[0][0]]
    for key, label in (("baseline/mean_training_frame", "Baseline: mean training frame"),
                       ("baseline/copy_last", "Baseline: copy last frame")):
        row = any_result[key]
        lines.append(f"| {label} | {cell(row, 'loss')} | – | – | {cell(row, 'mse')} | "
                     f"{cell(row, 'ssim', '{:.3f}')} |")
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    results = {}
    for name, _ in VARIANTS:
        model_dir = os.path.join(FLAGS.out_dir, name)
        run_tool("keras_vidrep.cli.train", f"--flagfile={os.path.join(FLAGS.configs, name + '.cfg')}",
                 f"--model_dir={model_dir}", f"--train_steps={FLAGS.train_steps}", f"--units={','.join(FLAGS.units)}",
                 "--export=false")
        output = os.path.join(model_dir, "eval.json")
        run_tool("keras_vidrep.cli.evaluate", f"--model_dir={model_dir}", f"--num_sequences={FLAGS.eval_sequences}",
                 f"--output_json={output}", f"--plot={os.path.join(model_dir, 'eval.png')}")
        with open(output, encoding="utf-8") as f:
            results[name] = json.load(f)
    info = results[VARIANTS[0][0]]["info"]
    text = (f"Ablation: {FLAGS.train_steps} steps, units {','.join(FLAGS.units)}; evaluated on "
            f"{info['sequences']} held-out generated sequences ({info['input_frames']} input -> "
            f"{info['future_frames']} future frames; {info['loss']}).\n\n{table(results, info)}\n")
    path = os.path.join(FLAGS.out_dir, "ablation.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)
    print(f"wrote {path}")


def run():
    common.show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
