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
from keras_vidrep.analysis import metrics, predictors
from keras_vidrep.config import Config
from keras_vidrep.data import video_sequences
from keras_vidrep.errors import ConfigError, VidrepError
from keras_vidrep.runs.checkpoints import step_of
from keras_vidrep.runs.directory import RunDir
from keras_vidrep.tasks import accumulate, baselines
from keras_vidrep.training.validation import validation_numbers

DATASETS = video_sequences.SEQUENCE_SETS


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
    read (`video_sequences.sequence_set`), checked against the model's `frame_shape`.

    `generated` draws Bouncing MNIST from the held-out digits of `config` (the model's settings; bundled digits
    when None) with `num_digits` digits and the given seed; `patches` / `features` read a sequence file; the others a
    standard file or TFDS set (loaded, up to `count`).
    """
    if dataset not in DATASETS:
        raise ConfigError(f"`dataset` must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if dataset in video_sequences.FILE_SETS and len(frame_shape) != (3 if dataset == "patches" else 1):
        raise ConfigError(f"`dataset`={dataset} does not hold frames of the model's shape {frame_shape}")
    settings = (config or Config()).settings
    file_length = length if config is None or dataset == "generated" else config.seq_length
    data = video_sequences.sequence_set(dataset, settings, seed, count, path, "data_path", file_length, frame_shape,
                                    num_digits)
    video_sequences.check_frames(data.read(np.arange(min(1, len(data)))), frame_shape, f"`dataset` {dataset}", length)
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


def run_eval(options, log=print):
    """vidrep-eval: evaluates the model of `options` (an `EvalOptions`) on its sequence set and writes what was asked
    for (JSON, plot, TensorBoard scalars); a classifier run is validated on its validation files instead. Returns
    the results."""
    options.validate()
    if options.model_dir and RunDir(options.model_dir).has_config() and \
            Config.load(options.model_dir).task == "classifier":
        return validate_classifier(options, log)
    predictor = predictors.predictor(options.model_dir, options.saved_model, options.checkpoint)
    input_frames, future = predictor.input_frames, options.future_frames or predictor.future_frames
    data = open_sequences(options.dataset, options.num_sequences, input_frames + future, predictor.frame_shape,
                          options.data_path, options.seed, options.num_digits, predictor.config)
    results = evaluate(predictor, data, input_frames, future, predictor.output, options.batch_size,
                       mean=mean_training_frame(predictor.config))
    results["info"].update(source=predictor.source, dataset=options.dataset, num_digits=options.num_digits,
                           seed=options.seed)
    clip = results["info"]["probability_clip"]
    log(f"{predictor.source} on {options.dataset}: {len(data)} sequences, {input_frames} input -> {future} "
        f"future frames; loss = {results['info']['loss']}"
        + (f" (from the model's logits; baseline probabilities clipped to [{clip:g}, 1-{clip:g}])"
           if predictor.output == "sigmoid" else ""))
    log(format_table(results))
    for path, write in ((options.output_json, write_json), (options.plot, plot_per_horizon)):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            log(f"wrote {write(results, path)}")
    if options.model_dir and options.summary_dir != "none":
        summary_dir = options.summary_dir or RunDir(options.model_dir).eval
        write_eval(summary_dir, results, step_of(predictor.source))
        log(f"wrote TensorBoard scalars to {summary_dir}")
    if not options.output_json:
        log(json.dumps({k: {m: v["mean"] for m, v in r.items()} for k, r in results.items() if k != "info"}))
    return results


def validate_classifier(options, log=print):
    """vidrep-eval of a classifier run: its validation numbers on its validation files, at `val_clip_stride`."""
    changes = {"val_clip_stride": options.val_clip_stride} if options.val_clip_stride else {}
    numbers, path = validate_run(options.model_dir, options.checkpoint, options.batch_size, **changes)
    log(f"{path}: " + ", ".join(f"{k} {v:.4f}" for k, v in numbers.items()))
    if options.output_json:
        os.makedirs(os.path.dirname(os.path.abspath(options.output_json)), exist_ok=True)
        write_json({"validation": numbers, "checkpoint": path, **changes}, options.output_json)
        log(f"wrote {options.output_json}")
    else:
        log(json.dumps(numbers))
    return numbers
