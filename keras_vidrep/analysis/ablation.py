"""vidrep-ablation: the paper's four variants, each conditional one trained three ways, on one budget; one table
and one per-horizon plot.

Variants (configs/ablation/*.cfg): future predictor, composite model, conditional future predictor, composite model
with conditional future predictor. A conditional future predictor is trained teacher-forced (the original),
with scheduled sampling (p falls linearly from 1 to 0 over the first `--sampling_fraction` of the steps, then
free-running) and free-running (p = 0); an unconditioned one reads nothing, so it is trained once. Each run is
trained with vidrep-train (resuming if its directory already holds a run), then evaluated with vidrep-eval on the
same generated held-out set, free-running and (conditional ones) teacher-forced, per horizon. Writes
`<out_dir>/ablation.md` (the table) and `<out_dir>/ablation.png` (free-running loss per horizon).
"""
import json
import os

from keras_vidrep import pictures
from keras_vidrep.analysis.commands import run_command
from keras_vidrep.runs.directory import RunDir

VARIANTS = (("future", "Future predictor"), ("composite", "Composite model"),
            ("conditional_future", "Conditional future predictor"),
            ("composite_conditional_future", "Composite model with conditional future predictor"))
CONDITIONAL = ("conditional_future", "composite_conditional_future")
BASELINES = (("baseline/mean_training_frame", "mean training frame"), ("baseline/copy_last", "copy last frame"))
TRAINING = {"teacher_forcing": "teacher-forced", "scheduled_sampling": "scheduled sampling",
            "free_running": "free-running"}


def runs(training):
    """[(run name, variant, training or None)]: unconditioned variants once, conditional ones per training."""
    out = []
    for variant, _ in VARIANTS:
        if variant in CONDITIONAL:
            out += [(f"{variant}__{mode}", variant, mode) for mode in training]
        else:
            out.append((variant, variant, None))
    return out


def sampling_flags(mode, train_steps, fraction):
    if mode == "scheduled_sampling":
        return ["--sampling_schedule=linear", "--sampling_probability=1", "--sampling_floor=0",
                f"--sampling_steps={max(1, int(fraction * train_steps))}"]
    return [f"--sampling_schedule={mode}"] if mode else []


def label(variant, mode):
    name = dict(VARIANTS)[variant]
    return f"{name}, trained {TRAINING[mode]}" if mode else name


def table(results, info, order):
    """Markdown table of the evaluated runs and the baselines (overall means); `order` is `runs()`."""
    loss = "nats" if info["output"] == "sigmoid" else "0.5·SE"
    lines = [f"| model | future {loss}/frame, free-running | future {loss}/frame, teacher-forced | "
             f"reconstruction {loss}/frame | future MSE | future SSIM |", "| --- | ---: | ---: | ---: | ---: | ---: |"]

    def cell(row, metric, fmt="{:.1f}"):
        return fmt.format(row[metric]["mean"]) if row else "–"

    for name, variant, mode in order:
        r = results[name]
        free = r["future/free_running"]
        lines.append(f"| {label(variant, mode)} | {cell(free, 'loss')} | "
                     f"{cell(r.get('future/teacher_forced'), 'loss')} | {cell(r.get('reconstruction'), 'loss')} | "
                     f"{cell(free, 'mse')} | {cell(free, 'ssim', '{:.3f}')} |")
    any_result = results[order[0][0]]
    for key, text in BASELINES:
        row = any_result[key]
        lines.append(f"| Baseline: {text} | {cell(row, 'loss')} | – | – | {cell(row, 'mse')} | "
                     f"{cell(row, 'ssim', '{:.3f}')} |")
    return "\n".join(lines)


def plot(results, order, path):
    """Free-running future loss per horizon of every run: one colour per variant, one line style per training
    (dotted teacher-forced, dash-dot scheduled sampling, solid free-running or unconditioned); baselines in black."""
    import matplotlib  # plotting only: not imported by the rest of the experiment

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip([v for v, _ in VARIANTS], ["tab:blue", "tab:orange", "tab:green", "tab:red"]))
    styles = {None: "-", "free_running": "-", "scheduled_sampling": "-.", "teacher_forcing": ":"}
    fig, ax = plt.subplots(figsize=(8, 6))
    for name, variant, mode in order:
        values = results[name]["future/free_running"]["loss"]["per_horizon"]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, color=colours[variant],
                linestyle=styles[mode], label=label(variant, mode))
    first = results[order[0][0]]
    for (key, text), style in zip(BASELINES, ("--", ":")):
        values = first[key]["loss"]["per_horizon"]
        ax.plot(range(1, len(values) + 1), values, color="black", linestyle=style, label=f"baseline: {text}")
    ax.set_xlabel("future frame")
    ax.set_ylabel(("nats" if first["info"]["output"] == "sigmoid" else "0.5·SE") + " per frame, free-running")
    ax.set_ylim(top=min(ax.get_ylim()[1], 1.5 * first["baseline/mean_training_frame"]["loss"]["mean"]))
    ax.set_title("Future prediction, free-running (lines that leave the top keep rising)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax.grid(alpha=0.3)
    return pictures.save_figure(fig, path)


def ablation(options):
    """Runs the ablation `options` (an `AblationOptions`) describes; returns (the table's text, the paths
    written)."""
    options.validate()
    os.makedirs(options.out_dir, exist_ok=True)
    order = runs(options.training)
    results = {}
    for name, variant, mode in order:
        model_dir = os.path.join(options.out_dir, name)
        run_command("vidrep-train", f"--flagfile={os.path.join(options.configs, variant + '.cfg')}",
                    f"--model_dir={model_dir}", f"--train_steps={options.train_steps}",
                    f"--units={','.join(options.units)}", "--export=false",
                    *sampling_flags(mode, options.train_steps, options.sampling_fraction))
        output = RunDir(model_dir).eval_json
        run_command("vidrep-eval", f"--model_dir={model_dir}", f"--num_sequences={options.eval_sequences}",
                    f"--output_json={output}", f"--plot={RunDir(model_dir).eval_plot}")
        with open(output, encoding="utf-8") as f:
            results[name] = json.load(f)
    info = results[order[0][0]]["info"]
    text = (f"Ablation: {options.train_steps} steps, units {','.join(options.units)}; evaluated on "
            f"{info['sequences']} held-out generated sequences ({info['input_frames']} input -> "
            f"{info['future_frames']} future frames; {info['loss']}).\n\n{table(results, info, order)}\n")
    path = os.path.join(options.out_dir, "ablation.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text, [path, plot(results, order, os.path.join(options.out_dir, "ablation.png"))]
