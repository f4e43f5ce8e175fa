"""Evaluation of a trained model (a model directory's checkpoint or an exported SavedModel) on a sequence set.

Reports the paper's loss and OpenSTL's MSE / MAE / SSIM / PSNR (see `metrics`), overall and per horizon, for:
  * the future prediction, free-running (the model feeds back its own output) and, for a conditional future
    predictor loaded from a checkpoint, teacher-forced (it reads the true previous frame);
  * the reconstruction of the input frames;
  * two baselines on the same data: copy the last input frame, and the mean input frame of the evaluated set.
"""
import json
import os

import numpy as np
import tensorflow as tf

from keras_vidrep import metrics
from keras_vidrep.config import CONFIG_FILE, Config
from keras_vidrep.data import sequences
from keras_vidrep.data.bouncing import VALIDATION_STREAM, BouncingMNIST
from keras_vidrep.data.digits import load_digits
from keras_vidrep.errors import ConfigError

DATASETS = ("generated", "bouncing_mnist_test", "mnist_test_seq", "tfds_moving_mnist")


def predictor(model_dir="", saved_model="", checkpoint=""):
    """A CheckpointPredictor for `model_dir` or a SavedModelPredictor for `saved_model` (exactly one is given).

    Both expose `input_frames`, `future_frames`, `output`, `config` (None for a foreign SavedModel), `reconstructs`,
    `predicts`, `can_teacher_force`, `reconstruct(frames)` and `predict(frames, steps, truth=None)`.
    """
    if bool(model_dir) == bool(saved_model):
        raise ConfigError("give exactly one of `model_dir` and `saved_model`")
    return CheckpointPredictor(model_dir, checkpoint) if model_dir else SavedModelPredictor(saved_model)


class CheckpointPredictor:
    """Predictions of the model in `model_dir`, restored from its latest (or a given) checkpoint."""

    def __init__(self, model_dir, checkpoint=""):
        from keras_vidrep.training import checkpoints

        self.model, self.config, self.source = checkpoints.restore_model(model_dir, checkpoint)
        self.input_frames, self.future_frames = self.config.input_frames, self.config.future_frames
        self.output = self.config.output
        self.can_teacher_force = self.model.predicts and self.model.conditional_future
        self.reconstructs, self.predicts = self.model.reconstructs, self.model.predicts
        self._future = tf.function(lambda x, steps: self.model.predict_future(x, steps), reduce_retracing=True)

    def reconstruct(self, frames):
        flat = frames.reshape(len(frames), frames.shape[1], -1)
        return np.asarray(self.model.reconstruct(flat))[:, ::-1].reshape(frames.shape)

    def predict(self, frames, steps, truth=None):
        """Free-running prediction of `steps` frames, or teacher-forced on `truth` (N, steps, H, W)."""
        flat = frames.reshape(len(frames), frames.shape[1], -1)
        if truth is None:
            out = self._future(flat, steps)
        else:
            logits = self.model.forward(flat, truth.reshape(len(truth), steps, -1), teacher_forcing=True)["future"]
            out = self.model.activate(logits)
        return np.asarray(out).reshape(len(frames), steps, *frames.shape[2:])


class SavedModelPredictor:
    """Predictions of an exported SavedModel, through its `reconstruct` and `predict_future` signatures only."""

    def __init__(self, path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ConfigError(f"`saved_model` {path!r} is not a SavedModel directory")
        self.loaded = tf.saved_model.load(path)
        self.config = Config.load(path) if os.path.isfile(os.path.join(path, CONFIG_FILE)) else None
        self.source = path
        self.can_teacher_force = False
        self.reconstructs = "reconstruct" in self.loaded.signatures
        self.predicts = "predict_future" in self.loaded.signatures
        signatures = self.loaded.signatures
        self.input_frames = int(signatures["encode"].structured_input_signature[1]["frames"].shape[1])
        self.future_frames = (int(signatures["predict_future"].structured_outputs["future"].shape[1])
                              if self.predicts else 0)
        self.output = self.config.output if self.config else "sigmoid"

    def reconstruct(self, frames):
        return self.loaded.signatures["reconstruct"](frames=tf.constant(frames))["reconstruction"].numpy()

    def predict(self, frames, steps, truth=None):
        out = self.loaded.signatures["predict_future"](frames=tf.constant(frames))["future"].numpy()
        if out.shape[1] < steps:
            raise ConfigError(f"the SavedModel predicts {out.shape[1]} frames, fewer than `future_frames`={steps}; "
                              f"evaluate its --model_dir to roll out longer")
        return out[:, :steps]


def load_sequences(dataset, count, length, path="", seed=0, num_digits=2, config=None):
    """Evaluation sequences (count, >= length, H, W) in [0, 1].

    `generated` draws Bouncing MNIST from the held-out digits of `config` (the model's settings; bundled digits
    when None) with `num_digits` digits and the given seed; the others read a standard file or TFDS set.
    """
    if dataset == "generated":
        cfg = config or Config()
        digits = load_digits(cfg.digits, "test", cfg.digits_path, cfg.digit_size)
        generator = BouncingMNIST(digits, cfg.canvas_size, num_digits, length, cfg.step_length, seed=seed,
                                  stream=VALIDATION_STREAM)
        return generator.sequences(np.arange(count))
    if dataset not in DATASETS:
        raise ConfigError(f"`dataset` must be one of {', '.join(DATASETS)}, got {dataset!r}")
    data = sequences.load_named(dataset, path, limit=count)
    if data.shape[1] < length:
        raise ConfigError(f"`dataset` {dataset} has {data.shape[1]} frames per sequence, fewer than the "
                          f"{length} that input + future frames need")
    return data


def evaluate(predictor, data, input_frames, future_frames, output="sigmoid", batch_size=64):
    """All metrics of `predictor` and of the baselines on `data` (N, T, H, W).

    Returns:
      dict: `future/free_running`, `future/teacher_forced` (when possible), `reconstruction`,
      `baseline/copy_last`, `baseline/mean_frame` → {metric: {"mean", "per_horizon"}}; plus `info`.
    """
    inputs, futures = data[:, :input_frames], data[:, input_frames:input_frames + future_frames]

    def batched(fn, *arrays):
        return np.concatenate([fn(*(a[i:i + batch_size] for a in arrays)) for i in range(0, len(data), batch_size)])

    results = {}
    if predictor.predicts:
        free = batched(lambda x: predictor.predict(x, future_frames), inputs)
        results["future/free_running"] = metrics.summarize(metrics.frame_metrics(futures, free, output))
        if predictor.can_teacher_force:
            forced = batched(lambda x, y: predictor.predict(x, future_frames, truth=y), inputs, futures)
            results["future/teacher_forced"] = metrics.summarize(metrics.frame_metrics(futures, forced, output))
    if predictor.reconstructs:
        recon = batched(predictor.reconstruct, inputs)
        results["reconstruction"] = metrics.summarize(metrics.frame_metrics(inputs, recon, output))
    copy_last = np.repeat(inputs[:, -1:], future_frames, axis=1)
    results["baseline/copy_last"] = metrics.summarize(metrics.frame_metrics(futures, copy_last, output))
    mean = np.broadcast_to(inputs.mean(axis=(0, 1)), futures.shape)
    results["baseline/mean_frame"] = metrics.summarize(metrics.frame_metrics(futures, mean, output))
    results["info"] = {"sequences": int(len(data)), "input_frames": int(input_frames),
                       "future_frames": int(future_frames), "output": output,
                       "loss": "Bernoulli nats per frame" if output == "sigmoid" else "0.5 * squared error per frame",
                       "probability_clip": metrics.PROBABILITY_CLIP,
                       "mean_frame": "mean of the evaluated sequences' input frames"}
    return results


def format_table(results):
    """A plain-text table of the overall means."""
    rows = [k for k in results if k != "info"]
    header = f"{'':28s}" + "".join(f"{m:>10s}" for m in metrics.METRICS)
    lines = [header] + [f"{row:28s}" + "".join(f"{results[row][m]['mean']:10.3f}" for m in metrics.METRICS)
                        for row in rows]
    return "\n".join(lines)


def plot_per_horizon(results, path):
    """A PNG with one panel per metric: per-horizon curves of the future predictions and baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [k for k in results if k.startswith(("future/", "baseline/"))]
    fig, axes = plt.subplots(1, len(metrics.METRICS), figsize=(4 * len(metrics.METRICS), 3.2))
    for ax, name in zip(axes, metrics.METRICS):
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
