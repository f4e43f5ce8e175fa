"""vidrep-fewlabel: does an encoder trained without labels help a classifier that has few labels?

  vidrep-fewlabel --labels_per_class=1,5,10 --seeds=0,1,2 --out_dir=runs/fewlabel

Bouncing MNIST sequences of one digit, labelled by the digit. First a composite model (reconstruction + future
prediction) is trained on unlabelled sequences; then, for each number of labelled sequences per class and each
seed, the same LSTM classifier is trained from scratch and from the composite model's encoder. Every classifier is
scored once, at the end of training, on the same held-out sequences (held-out digits): no model selection on them.
Writes `<out_dir>/fewlabel.md` (mean ± std over the seeds) and `<out_dir>/fewlabel.json` (every run).
"""
import json
import os
import subprocess
import sys

from absl import app, flags

from keras_vidrep.cli import common
from keras_vidrep.reports import fewlabel_table

flags.DEFINE_string("out_dir", "runs/fewlabel", "Model directories, fewlabel.md and fewlabel.json go here.")
flags.DEFINE_list("labels_per_class", ["1", "5", "10"], "Labelled training sequences per class.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (labelled subset, initialisation, data order).")
flags.DEFINE_list("units", ["256"], "LSTM units (encoder and classifier).")
flags.DEFINE_integer("pretrain_steps", 2000, "Steps of the unsupervised composite model.")
flags.DEFINE_integer("train_steps", 500, "Steps of each classifier.")
flags.DEFINE_integer("clip_length", 10, "Frames the encoder and the classifier read.")
flags.DEFINE_enum("encoder", "finetune", ["finetune", "freeze"], "Train the pretrained encoder on, or keep it fixed.")
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


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    labels_per_class, seeds = [int(k) for k in FLAGS.labels_per_class], [int(s) for s in FLAGS.seeds]
    units = ",".join(FLAGS.units)
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    pretrained_dir = os.path.join(FLAGS.out_dir, "pretrained")
    pretrained = train(f"--model_dir={pretrained_dir}", "--num_digits=1", f"--units={units}",
                       f"--input_frames={FLAGS.clip_length}", f"--future_frames={FLAGS.clip_length}",
                       f"--seq_length={2 * FLAGS.clip_length}", f"--train_steps={FLAGS.pretrain_steps}",
                       "--learning_rate=2e-3", "--eval_every=1000", "--export=false", "--seed=0")
    runs = {}
    for seed in seeds:
        for k in labels_per_class:
            for init in ("scratch", "pretrained"):
                name = f"{init}_k{k}_s{seed}"
                extra = [f"--init_from={pretrained_dir}"] if init == "pretrained" else []
                if init == "pretrained" and FLAGS.encoder == "freeze":
                    extra.append("--freeze_encoder")
                result = train("--task=classifier", "--data=bouncing_digits", "--num_classes=10",
                               f"--labels_per_class={k}", f"--clip_length={FLAGS.clip_length}", f"--units={units}",
                               f"--train_steps={FLAGS.train_steps}", f"--eval_every={FLAGS.train_steps}",
                               f"--learning_rate={FLAGS.learning_rate}", f"--val_sequences={FLAGS.val_sequences}",
                               f"--seed={seed}", "--export=false", f"--model_dir={os.path.join(FLAGS.out_dir, name)}",
                               *extra)
                runs[name] = result["final_validation"]["video_accuracy"]
    text = (f"Few labels: one-digit Bouncing MNIST, LSTM {units} units, {FLAGS.clip_length}-frame sequences; "
            f"encoder pretrained without labels for {FLAGS.pretrain_steps} steps (validation: reconstruction "
            f"{pretrained['final_validation']['reconstruction']:.1f}, future "
            f"{pretrained['final_validation']['future']:.1f} nats/frame; mean training frame "
            f"{pretrained['final_validation']['baseline/mean_training_frame/future']:.1f}) and "
            f"{'fine-tuned' if FLAGS.encoder == 'finetune' else 'frozen'}; classifiers trained "
            f"{FLAGS.train_steps} steps; accuracy on {FLAGS.val_sequences} held-out sequences, mean ± std over "
            f"seeds {','.join(map(str, seeds))}.\n\n{fewlabel_table(runs, labels_per_class, seeds)}\n")
    for name, content in (("fewlabel.md", text), ("fewlabel.json", json.dumps(
            {"runs": runs, "pretrained": pretrained["final_validation"]}, indent=2))):
        with open(os.path.join(FLAGS.out_dir, name), "w", encoding="utf-8") as f:
            f.write(content)
    print(text)
    print(f"wrote {os.path.join(FLAGS.out_dir, 'fewlabel.md')}")


def run():
    common.show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
