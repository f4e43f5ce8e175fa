"""Evaluation of a trained video model (a model directory's checkpoint or an exported SavedModel) on a sequence set.

Reports the training loss and OpenSTL's MSE / MAE / SSIM / PSNR (see `metrics`), overall and per horizon, for:
  * the future prediction, free-running (the model feeds back its own output) and, for a conditional future
    predictor loaded from a checkpoint, teacher-forced (it reads the true previous frame);
  * the reconstruction of the input frames;
  * two baselines on the same data: copy the last input frame, and the mean training frame of the model's run
    (the same definition as in TensorBoard; left out where the training data cannot be read).
"""
import json
import os

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from keras_vidrep import tasks, trained
from keras_vidrep.analysis import metrics
from keras_vidrep.config import Config
from keras_vidrep.data import frames as frame_utils
from keras_vidrep.errors import ConfigError, VidrepError
from keras_vidrep.runs.directory import CONFIG_FILE
from keras_vidrep.tasks import accumulate, baselines
from keras_vidrep.training.validation import validation_numbers

DATASETS = frame_utils.SEQUENCE_SETS


def predictor(model_dir="", saved_model="", checkpoint=""):
    """A CheckpointPredictor for `model_dir` or a SavedModelPredictor for `saved_model` (exactly one is given).

    Both expose `input_frames`, `future_frames`, `frame_shape`, `output`, `config` (None for a foreign
    SavedModel), `reconstructs`, `predicts`, `can_teacher_force`, `reconstruct(frames)` (input order) and
    `predict(frames, steps, truth=None)`; both predictions return (frames, logits), logits None where unknown.
    """
    if bool(model_dir) == bool(saved_model):
        raise ConfigError("give exactly one of `model_dir` and `saved_model`")
    return CheckpointPredictor(model_dir, checkpoint) if model_dir else SavedModelPredictor(saved_model)


class CheckpointPredictor:
    """Predictions of the model in `model_dir`, restored from its latest (or a given) checkpoint."""

    def __init__(self, model_dir, checkpoint=""):
        self.model, self.task, self.source = trained.restore_model(model_dir, checkpoint)
        self.config = self.task.config
        if not self.task.predicts_video:
            raise ConfigError(f"`model_dir` {model_dir!r} holds a model of task {self.config.task!r}; this tool "
                              f"evaluates video predictors (tasks composite and latent)")
        self.input_frames, self.future_frames = self.config.input_frames, self.config.future_frames
        self.frame_shape = tuple(self.config.frame_shape)
        self.output = self.config.output
        self.can_teacher_force = self.model.predicts and self.model.conditional_future
        self.reconstructs, self.predicts = self.model.reconstructs, self.model.predicts
        self._future = tf.function(lambda x, steps: self.model.future_logits(x, steps), reduce_retracing=True,
                                   autograph=False)

    def _frames(self, logits):
        logits = frame_utils.unflatten(np.asarray(logits), self.frame_shape)
        frames = np.asarray(self.model.activate(logits))
        return frames, (logits if self.output == "sigmoid" else None)

    def reconstruct(self, frames):
        logits = np.asarray(self.model.reconstruction_logits(frame_utils.flatten(frames)))[:, ::-1]
        return self._frames(logits)

    def predict(self, frames, steps, truth=None):
        """Free-running prediction of `steps` frames, or teacher-forced on `truth` (N, steps, *frame_shape)."""
        flat = frame_utils.flatten(frames)
        if truth is None:
            logits = self._future(flat, steps)
        else:
            logits = self.model.forward(flat, frame_utils.flatten(truth), teacher_forcing=True)["future"]
        return self._frames(logits)


class SavedModelPredictor:
    """Predictions of an exported SavedModel, through its `reconstruct` and `predict_future` signatures only."""

    def __init__(self, path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ConfigError(f"`saved_model` {path!r} is not a SavedModel directory")
        self.loaded = tf.saved_model.load(path)
        self.config = Config.load(path) if os.path.isfile(os.path.join(path, CONFIG_FILE)) else None
        self.source = path
        self.can_teacher_force = False
        signatures = self.loaded.signatures
        self.predicts = "predict_future" in signatures
        reader = "predict_future" if self.predicts else "encode"
        if reader not in signatures:
            raise ConfigError(f"`saved_model` {path!r} has neither a `predict_future` nor an `encode` signature (it "
                              f"has {', '.join(signatures)}); this tool evaluates video predictors")
        shape = signatures[reader].structured_input_signature[1]["frames"].shape
        self.input_frames, self.frame_shape = int(shape[1]), tuple(int(d) for d in shape[2:])
        # A frame VAE's `reconstruct` (in a latent predictor's export) reads single frames, not sequences.
        self.reconstructs = ("reconstruct" in signatures and
                             signatures["reconstruct"].structured_input_signature[1]["frames"].shape.rank == len(shape))
        self._takes_steps = self.predicts and "steps" in signatures["predict_future"].structured_input_signature[1]
        self.future_frames = self._trained_future_frames() if self.predicts else 0
        self.output = self.config.output if self.config else "sigmoid"

    def _trained_future_frames(self):
        """The trained length: config.json's, else what `predict_future` predicts without `steps`."""
        if self.config is not None:
            return int(self.config.future_frames)
        zeros = tf.zeros((1, self.input_frames, *self.frame_shape), tf.float32)
        return int(self.loaded.predict_future(zeros)["future"].shape[1])

    def _call(self, name, key, frames, **extra):
        out = self.loaded.signatures[name](frames=tf.constant(frames, tf.float32), **extra)
        logits = out.get(f"{key}_logits")
        return out[key].numpy(), None if logits is None else logits.numpy()

    def reconstruct(self, frames):
        return self._call("reconstruct", "reconstruction", frames)

    def predict(self, frames, steps, truth=None):
        """Free-running prediction of `steps` frames, by the signature's own in-graph loop."""
        if not self._takes_steps:
            out = self._call("predict_future", "future", frames)  # an export that predicts a fixed length
            if out[0].shape[1] < steps:
                raise ConfigError(f"the SavedModel predicts {out[0].shape[1]} frames, fewer than {steps}; "
                                  f"re-export it (vidrep-export) to predict any number of frames")
            return out[0][:, :steps], None if out[1] is None else out[1][:, :steps]
        return self._call("predict_future", "future", frames, steps=tf.constant(steps, tf.int32))


def validate_run(model_dir, checkpoint="", batch_size=128, **changes):
    """The validation numbers of a run's checkpoint, as its training computes them, on its validation set with
    `changes` to the settings that choose it (e.g. `val_clip_stride=1` for the classifier's every-clip video
    accuracy after a training validated on a thinner set). Returns (numbers, checkpoint path)."""
    model, task, path = trained.restore_model(model_dir, checkpoint)
    if changes:
        task = tasks.create(task.config.replace(**changes).validate())
    task.prepare_validation()  # the training files are not opened
    step = tf.function(lambda *batch: task.validation_losses(model, batch), autograph=False)
    return validation_numbers(task, step, task.validation_set(), batch_size), path


def open_sequences(dataset, count, length, frame_shape, path="", seed=0, num_digits=2, config=None):
    """Evaluation sequences as a `ValidationSet` (n <= `count` sequences (>= length, *frame_shape)), opened but not
    read (`frames.sequence_set`), checked against the model's `frame_shape`.

    `generated` draws Bouncing MNIST from the held-out digits of `config` (the model's settings; bundled digits
    when None) with `num_digits` digits and the given seed; `patches` / `features` read a sequence file; the others a
    standard file or TFDS set (loaded, up to `count`).
    """
    if dataset not in DATASETS:
        raise ConfigError(f"`dataset` must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if dataset in frame_utils.FILE_SETS and len(frame_shape) != (3 if dataset == "patches" else 1):
        raise ConfigError(f"`dataset`={dataset} does not hold frames of the model's shape {frame_shape}")
    settings = (config or Config()).settings
    file_length = length if config is None or dataset == "generated" else config.seq_length
    data = frame_utils.sequence_set(dataset, settings, seed, count, path, "data_path", file_length, frame_shape,
                                    num_digits)
    frame_utils.check_frames(data.read(np.arange(min(1, len(data)))), frame_shape, f"`dataset` {dataset}", length)
    return data


def mean_training_frame(config):
    """The mean training frame of the run `config` describes, or None where its training data cannot be read."""
    if config is None:
        return None
    try:
        return tasks.create(config).mean_training_frame()
    except VidrepError:
        return None


def evaluate(predictor, data, input_frames, future_frames, output="sigmoid", batch_size=64, mean=None):
    """All metrics of `predictor` and of the baselines on `data`, read and scored batch by batch (memory holds one
    batch whatever the set's size).

    Args:
      data: a `ValidationSet` of sequences (N, T, *frame_shape), e.g. opened by `open_sequences`.
      mean: the mean training frame for the `baseline/mean_training_frame` row (left out when None).

    Returns:
      dict: `future/free_running`, `future/teacher_forced` (when possible), `reconstruction`,
      `baseline/copy_last`, `baseline/mean_training_frame` → {metric: {"mean", "per_horizon"}}; plus `info`.
    """
    read, count = data.read, len(data)
    rows = {}

    def score(row, targets, prediction):
        rows.setdefault(row, accumulate.HorizonMeans()).add(
            metrics.frame_metrics(targets, prediction[0], output, logits=prediction[1]))

    starts = range(0, count, batch_size)
    if count > 20 * batch_size:
        starts = tqdm(starts, desc="vidrep-eval", unit="batch", dynamic_ncols=True)
    for start in starts:
        batch = np.asarray(read(np.arange(start, min(start + batch_size, count))), np.float32)
        inputs, futures = batch[:, :input_frames], batch[:, input_frames:input_frames + future_frames]
        if predictor.predicts:
            score("future/free_running", futures, predictor.predict(inputs, future_frames))
            if predictor.can_teacher_force:
                score("future/teacher_forced", futures, predictor.predict(inputs, future_frames, truth=futures))
        if predictor.reconstructs:
            score("reconstruction", inputs, predictor.reconstruct(inputs))
        score("baseline/copy_last", futures, (np.repeat(inputs[:, -1:], future_frames, axis=1), None))
        if mean is not None:
            score("baseline/mean_training_frame", futures,
                  (np.broadcast_to(np.asarray(mean, np.float32), futures.shape), None))
    results = {row: means.result() for row, means in rows.items()}
    results["info"] = {"sequences": int(count), "input_frames": int(input_frames),
                       "future_frames": int(future_frames), "output": output,
                       "loss": "Bernoulli nats per frame" if output == "sigmoid" else "0.5 * squared error per frame",
                       "probability_clip": baselines.PROBABILITY_CLIP,
                       "image_metrics": f"ssim and psnr of predictions clipped to [0, 1]; psnr capped at "
                                        f"{metrics.PSNR_CAP:g} dB",
                       "baselines": "copy_last: the last input frame; mean_training_frame: the mean frame of the "
                                    "model's training data" + ("" if mean is not None else " (training data not "
                                                               "readable here: left out)")}
    return results


def format_table(results):
    """A plain-text table of the overall means."""
    rows = [k for k in results if k != "info"]
    names = [m for m in metrics.METRICS if m in results[rows[0]]]
    header = f"{'':30s}" + "".join(f"{m:>10s}" for m in names)
    lines = [header] + [f"{row:30s}" + "".join(f"{results[row][m]['mean']:10.3f}" for m in names) for row in rows]
    return "\n".join(lines)


def plot_per_horizon(results, path):
    """A PNG with one panel per metric: per-horizon curves of the future predictions and baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [k for k in results if k.startswith(("future/", "baseline/"))]
    names = [m for m in metrics.METRICS if m in results[rows[0]]]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2))
    for ax, name in zip(axes, names):
        for row in rows:
            values = results[row][name]["per_horizon"]
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=row)
        ax.set_title(name)
        ax.set_xlabel("future step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_json(results, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    return path


def write_eval(logdir, results, step):
    """vidrep-eval's overall means as scalars `<part>/<metric>` (e.g. `future/free_running/loss`,
    `baseline/copy_last/ssim`) at the checkpoint's `step`, in `logdir`: the evaluation of a run beside its
    training curves, and metrics of its HParams session (group `eval`)."""
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for part, metrics in results.items():
            if part == "info":
                continue
            for metric, value in metrics.items():
                tf.summary.scalar(f"{part}/{metric}", float(value["mean"]), step=int(step))
    writer.close()
