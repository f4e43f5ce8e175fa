"""vidrep-fewlabel: does an encoder trained without labels help a classifier that has few labels?

Bouncing MNIST sequences of one digit, labelled by the digit, by its direction of motion at the last frame
(8 sectors) or by its speed (`speed_spread`, 4 bins). First a composite model (reconstruction + future
prediction) is trained on unlabelled sequences — or an existing run is used (`pretrained_dir`, whose units,
canvas, digits and input frames the classifiers then take); then, for each number of labelled sequences per class
and each seed, the same LSTM classifier is trained from scratch, from the composite model's encoder fine-tuned, and
from it frozen with only the linear head trained (`inits`). Every classifier is scored once, at the end of
training, on the same held-out sequences (held-out digits): no model selection on them. Writes
`<out_dir>/fewlabel.md` (mean ± std over the seeds), `<out_dir>/fewlabel.json` (every run) and
`<out_dir>/fewlabel.png`.
"""
import json
import os

import numpy as np

from keras_vidrep import pictures
from keras_vidrep.analysis.commands import run_command
from keras_vidrep.config import Config
from keras_vidrep.errors import ConfigError

SPEED_CLASSES = 4
CLASSES = {"digit": 10, "direction": 8, "speed": SPEED_CLASSES}

INIT_NAMES = {"scratch": "from scratch", "pretrained": "from the pretrained encoder",
              "finetune": "pretrained, fine-tuned", "frozen": "pretrained, frozen (linear head)"}


def fewlabel_table(runs, labels_per_class, seeds, inits=("scratch", "pretrained")):
    """Accuracy mean ± std over `seeds` per number of labels for each initialisation, and each one's difference
    to the first (from scratch), paired by seed.

    Args:
      runs: {"<init>_k<labels>_s<seed>": accuracy in [0, 1]}.
    """
    others = inits[1:]
    header = [INIT_NAMES.get(i, i) for i in inits] + [f"{INIT_NAMES.get(i, i)} − scratch" if len(others) > 1
                                                       else "difference" for i in others]
    lines = ["| labelled sequences per class | " + " | ".join(header) + " |",
             "| ---: |" + " ---: |" * len(header)]
    for k in labels_per_class:
        values = [np.array([runs[f"{init}_k{k}_s{s}"] for s in seeds]) * 100 for init in inits]
        cells = values + [v - values[0] for v in values[1:]]
        lines.append(f"| {k or 'all (a fresh sequence every step)'} | " + " | ".join(
            f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0:.1f} %" for v in cells) + " |")
    return "\n".join(lines)


def fewlabel_picture(runs, labels_per_class, seeds, inits, chance, path, title):
    """Accuracy against labelled sequences per class, one curve (mean ± std over seeds) per initialisation."""
    import matplotlib  # plotting only: not imported by the rest of the experiment

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.5))
    few = [k for k in labels_per_class if k]
    for init in inits:
        values = np.array([[runs[f"{init}_k{k}_s{s}"] for s in seeds] for k in few]) * 100
        line = ax.errorbar(few, values.mean(1), yerr=values.std(1), marker="o", capsize=2,
                           label=INIT_NAMES.get(init, init))
        if 0 in labels_per_class:  # all labels: a dashed level in the same colour
            ax.axhline(100 * np.mean([runs[f"{init}_k0_s{s}"] for s in seeds]), color=line[0].get_color(),
                       lw=0.8, ls="--")
    all_labels, labels_per_class = 0 in labels_per_class, few
    ax.axhline(100 * chance, color="k", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_xticks(labels_per_class, [str(k) for k in labels_per_class])
    ax.set_xlabel("labelled sequences per class")
    ax.set_ylabel("held-out accuracy (%)")
    ax.set_title(title + ("\n(dashed: all labels, a fresh sequence every step)" if all_labels else ""),
                 fontsize=9)
    ax.legend(fontsize=7)
    return pictures.save_figure(fig, path)


def pretrain(options):
    """(pretrained run directory, its final validation, classifier flags that match its model and data)."""
    spread = [f"--speed_spread={options.speed_spread}"] if options.label == "speed" else []
    if options.pretrained_dir:
        config = Config.load(options.pretrained_dir, "pretrained_dir")
        s = config.settings
        if config.task != "composite" or s.data != "bouncing_mnist" or len(s.units) != 1 or s.bottleneck:
            raise ConfigError(f"`pretrained_dir` {options.pretrained_dir!r} must be a 1-layer composite run on "
                              f"bouncing_mnist without a bottleneck")
        matching = [f"--units={s.units[0]}", f"--canvas_size={s.canvas_size}", f"--digit_size={s.digit_size}",
                    f"--digits={s.digits}", *([f"--digits_path={s.digits_path}"] if s.digits_path else []),
                    f"--clip_length={s.input_frames}", f"--step_length={s.step_length}",
                    *(["--peepholes"] if s.peepholes else []), f"--initializer={s.initializer}"]
        return options.pretrained_dir, {}, matching
    pretrained_dir = os.path.join(options.out_dir, "pretrained")
    units = ",".join(options.units)
    digits = [*([f"--digits={options.digits}"] if options.digits else []),
              *([f"--digits_path={options.digits_path}"] if options.digits_path else [])]
    pretrained = run_command(
        "vidrep-train", f"--model_dir={pretrained_dir}", "--num_digits=1", f"--units={units}",
        f"--input_frames={options.clip_length}", f"--future_frames={options.clip_length}",
        f"--seq_length={2 * options.clip_length}", f"--train_steps={options.pretrain_steps}", "--learning_rate=2e-3",
        "--eval_every=1000", "--export=false", "--seed=0", *spread, *digits, json_result=True)
    return (pretrained_dir, pretrained["final_validation"],
            [f"--units={units}", f"--clip_length={options.clip_length}", *digits])


def fewlabel(options):
    """Runs the experiment `options` (a `FewLabelOptions`) describes; returns (the table's text, the paths
    written)."""
    labels_per_class, seeds, inits = options.validate()
    os.makedirs(options.out_dir, exist_ok=True)
    pretrained_dir, validation, model_flags = pretrain(options)
    classes = CLASSES[options.label]
    label_flags = [f"--label={options.label}", f"--num_classes={classes}"] + (
        [f"--speed_spread={options.speed_spread}"] if options.label == "speed" else [])
    runs = {}
    for seed in seeds:
        for k in labels_per_class:
            for init in inits:
                name = f"{init}_k{k}_s{seed}"
                extra = [f"--init_from={pretrained_dir}"] if init != "scratch" else []
                extra += ["--freeze_encoder"] if init == "frozen" else []
                result = run_command(
                    "vidrep-train", "--task=classifier", "--data=bouncing_digits", *label_flags, *model_flags,
                    f"--labels_per_class={k}", f"--train_steps={options.train_steps}",
                    f"--eval_every={options.train_steps}", f"--learning_rate={options.learning_rate}",
                    f"--val_sequences={options.val_sequences}", f"--seed={seed}", "--export=false",
                    f"--model_dir={os.path.join(options.out_dir, name)}", *extra, json_result=True)
                runs[name] = result["final_validation"]["video_accuracy"]
    what = {"digit": "its digit (10 classes)", "direction": "its direction of motion at the last frame (8 sectors)",
            "speed": f"its speed ({SPEED_CLASSES} bins of step_length x [1 ± {options.speed_spread}])"}[options.label]
    pretrained_what = (f"the composite run {pretrained_dir}" if options.pretrained_dir else
                       f"a composite model pretrained without labels for {options.pretrain_steps} steps")
    numbers = ", ".join(f"{k} {validation[k]:.1f}" for k in ("reconstruction", "future") if k in validation)
    text = (f"Few labels: one-digit Bouncing MNIST labelled by {what}; encoder: {pretrained_what}"
            f"{f' (validation, nats/frame: {numbers})' if numbers else ''}; classifiers {' '.join(model_flags)}, "
            f"trained {options.train_steps} steps; "
            f"accuracy on {options.val_sequences} held-out sequences (held-out digits), mean ± std over seeds "
            f"{','.join(map(str, seeds))}; chance {100 / classes:.1f} %.\n\n"
            f"{fewlabel_table(runs, labels_per_class, seeds, inits)}\n")
    written = [os.path.join(options.out_dir, "fewlabel.md"), os.path.join(options.out_dir, "fewlabel.json")]
    for path, content in zip(written, (text, json.dumps(
            {"runs": runs, "label": options.label, "inits": inits, "pretrained_dir": pretrained_dir,
             "pretrained": validation, "labels_per_class": labels_per_class, "seeds": seeds}, indent=2))):
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
    written.append(fewlabel_picture(runs, labels_per_class, seeds, inits, 1.0 / classes,
                                    os.path.join(options.out_dir, "fewlabel.png"), f"few labels: {options.label}"))
    return text, written
