"""vidrep-fewlabel: does an encoder trained without labels help a classifier that has few labels?

  vidrep-fewlabel --label=direction --labels_per_class=1,5,10 --seeds=0,1,2 --out_dir=runs/fewlabel_direction
  vidrep-fewlabel --label=direction --pretrained_dir=runs/cpu_15min --out_dir=runs/fewlabel_cpu15

Bouncing MNIST sequences of one digit, labelled by the digit, by its direction of motion at the last frame
(8 sectors) or by its speed (`--speed_spread`, 4 bins). First a composite model (reconstruction + future
prediction) is trained on unlabelled sequences — or an existing run is used (`--pretrained_dir`, whose units,
canvas, digits and input frames the classifiers then take); then, for each number of labelled sequences per class
and each seed, the same LSTM classifier is trained from scratch, from the composite model's encoder fine-tuned, and
from it frozen with only the linear head trained (`--inits`). Every classifier is scored once, at the end of
training, on the same held-out sequences (held-out digits): no model selection on them. Writes
`<out_dir>/fewlabel.md` (mean ± std over the seeds), `<out_dir>/fewlabel.json` (every run) and
`<out_dir>/fewlabel.png`.
"""
import json
import os
import subprocess
import sys

from absl import app, flags

from keras_vidrep.analysis.reports import fewlabel_picture, fewlabel_table
from keras_vidrep.cli import common

flags.DEFINE_string("out_dir", "runs/fewlabel", "Model directories, fewlabel.md and fewlabel.json go here.")
flags.DEFINE_list("labels_per_class", ["1", "5", "10"], "Labelled training sequences per class; `all`: a fresh "
                  "labelled sequence every step (the supervised upper bound).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (labelled subset, initialisation, data order).")
flags.DEFINE_list("units", ["256"], "LSTM units (encoder and classifier).")
flags.DEFINE_integer("pretrain_steps", 2000, "Steps of the unsupervised composite model.")
flags.DEFINE_integer("train_steps", 500, "Steps of each classifier.")
flags.DEFINE_integer("clip_length", 10, "Frames the encoder and the classifier read.")
flags.DEFINE_enum("encoder", "finetune", ["finetune", "freeze"], "Only one pretrained classifier: fine-tuned or frozen "
                  "(when given, `inits` is scratch and this one).")
flags.DEFINE_list("inits", ["scratch", "finetune", "frozen"], "Classifiers to train: from scratch, from the pretrained "
                  "encoder fine-tuned, from it frozen (linear head only).")
flags.DEFINE_enum("label", "digit", ["digit", "direction", "speed"], "What a sequence's class is.")
flags.DEFINE_float("speed_spread", 0.5, "label=speed: speeds drawn from step_length x [1 - spread, 1 + spread] "
                   "(pretraining too), 4 classes.")
flags.DEFINE_string("pretrained_dir", "", "Use this composite run (e.g. runs/cpu_15min) instead of pretraining one.")
flags.DEFINE_integer("val_sequences", 1000, "Held-out labelled sequences the classifiers are scored on.")
flags.DEFINE_float("learning_rate", 1e-3, "Learning rate of the classifiers.")
FLAGS = flags.FLAGS


def train(*args):
    """Runs vidrep-train with `args`; returns its final JSON line."""
    command = [sys.executable, "-m", "keras_vidrep.cli.train", *args]
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if result.returncode:
        sys.exit(f"vidrep-fewlabel: error: vidrep-train failed with exit code {result.returncode}")
    return json.loads(result.stdout.strip().splitlines()[-1])


SPEED_CLASSES = 4


def pretrain():
    """(pretrained run directory, its final validation, classifier flags that match its model and data)."""
    from keras_vidrep.config import Config
    from keras_vidrep.errors import ConfigError

    spread = [f"--speed_spread={FLAGS.speed_spread}"] if FLAGS.label == "speed" else []
    if FLAGS.pretrained_dir:
        config = Config.load(FLAGS.pretrained_dir)
        s = config.settings
        if config.task != "composite" or s.data != "bouncing_mnist" or len(s.units) != 1 or s.bottleneck:
            raise ConfigError(f"`pretrained_dir` {FLAGS.pretrained_dir!r} must be a 1-layer composite run on "
                              f"bouncing_mnist without a bottleneck")
        matching = [f"--units={s.units[0]}", f"--canvas_size={s.canvas_size}", f"--digit_size={s.digit_size}",
                    f"--digits={s.digits}", f"--clip_length={s.input_frames}", f"--step_length={s.step_length}",
                    *(["--peepholes"] if s.peepholes else []), f"--initializer={s.initializer}"]
        return FLAGS.pretrained_dir, {}, matching
    pretrained_dir = os.path.join(FLAGS.out_dir, "pretrained")
    units = ",".join(FLAGS.units)
    pretrained = train(f"--model_dir={pretrained_dir}", "--num_digits=1", f"--units={units}",
                       f"--input_frames={FLAGS.clip_length}", f"--future_frames={FLAGS.clip_length}",
                       f"--seq_length={2 * FLAGS.clip_length}", f"--train_steps={FLAGS.pretrain_steps}",
                       "--learning_rate=2e-3", "--eval_every=1000", "--export=false", "--seed=0", *spread)
    return pretrained_dir, pretrained["final_validation"], [f"--units={units}", f"--clip_length={FLAGS.clip_length}"]


def main(argv):
    from keras_vidrep.errors import ConfigError

    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        labels_per_class = [0 if k == "all" else int(k) for k in FLAGS.labels_per_class]
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError as e:
        raise ConfigError(f"`labels_per_class` takes positive integers and `all`, `seeds` integers: {e}") from None
    if any(k < 0 for k in labels_per_class):
        raise ConfigError(f"`labels_per_class` must be positive, got {','.join(FLAGS.labels_per_class)}")
    inits = ["scratch", {"finetune": "finetune", "freeze": "frozen"}[FLAGS.encoder]] if FLAGS["encoder"].present \
        else list(FLAGS.inits)
    if not inits or inits[0] != "scratch" or not set(inits) <= {"scratch", "finetune", "frozen"}:
        raise ConfigError(f"`inits` must start with scratch and name finetune and/or frozen, got {','.join(inits)!r}")
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    pretrained_dir, validation, model_flags = pretrain()
    classes = {"digit": 10, "direction": 8, "speed": SPEED_CLASSES}[FLAGS.label]
    label_flags = [f"--label={FLAGS.label}", f"--num_classes={classes}"] + (
        [f"--speed_spread={FLAGS.speed_spread}"] if FLAGS.label == "speed" else [])
    runs = {}
    for seed in seeds:
        for k in labels_per_class:
            for init in inits:
                name = f"{init}_k{k}_s{seed}"
                extra = [f"--init_from={pretrained_dir}"] if init != "scratch" else []
                extra += ["--freeze_encoder"] if init == "frozen" else []
                result = train("--task=classifier", "--data=bouncing_digits", *label_flags, *model_flags,
                               f"--labels_per_class={k}", f"--train_steps={FLAGS.train_steps}",
                               f"--eval_every={FLAGS.train_steps}", f"--learning_rate={FLAGS.learning_rate}",
                               f"--val_sequences={FLAGS.val_sequences}", f"--seed={seed}", "--export=false",
                               f"--model_dir={os.path.join(FLAGS.out_dir, name)}", *extra)
                runs[name] = result["final_validation"]["video_accuracy"]
    what = {"digit": "its digit (10 classes)", "direction": "its direction of motion at the last frame (8 sectors)",
            "speed": f"its speed ({SPEED_CLASSES} bins of step_length x [1 ± {FLAGS.speed_spread}])"}[FLAGS.label]
    pretrained_what = (f"the composite run {pretrained_dir}" if FLAGS.pretrained_dir else
                       f"a composite model pretrained without labels for {FLAGS.pretrain_steps} steps")
    numbers = ", ".join(f"{k} {validation[k]:.1f}" for k in ("reconstruction", "future") if k in validation)
    text = (f"Few labels: one-digit Bouncing MNIST labelled by {what}; encoder: {pretrained_what}"
            f"{f' (validation, nats/frame: {numbers})' if numbers else ''}; classifiers {' '.join(model_flags)}, "
            f"trained {FLAGS.train_steps} steps; "
            f"accuracy on {FLAGS.val_sequences} held-out sequences (held-out digits), mean ± std over seeds "
            f"{','.join(map(str, seeds))}; chance {100 / classes:.1f} %.\n\n"
            f"{fewlabel_table(runs, labels_per_class, seeds, inits)}\n")
    for name, content in (("fewlabel.md", text), ("fewlabel.json", json.dumps(
            {"runs": runs, "label": FLAGS.label, "inits": inits, "pretrained_dir": pretrained_dir,
             "pretrained": validation, "labels_per_class": labels_per_class, "seeds": seeds}, indent=2))):
        with open(os.path.join(FLAGS.out_dir, name), "w", encoding="utf-8") as f:
            f.write(content)
    picture = fewlabel_picture(runs, labels_per_class, seeds, inits, 1.0 / classes,
                               os.path.join(FLAGS.out_dir, "fewlabel.png"), f"few labels: {FLAGS.label}")
    print(text)
    print(f"wrote {os.path.join(FLAGS.out_dir, 'fewlabel.md')}, {picture}")


def run():
    common.show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
