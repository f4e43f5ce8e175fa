"""Reference predictors that a learned model must beat, scored with the paper's per-frame losses (numpy only).

  * `mean_training_frame`: every frame predicted as the mean frame of (a sample of) the training sequences;
  * `copy_last`: every future frame predicted as the last input frame.

A baseline predicts probabilities, not logits, and its probabilities can be exactly 0 or 1 (a pixel never or always
on), so its Bernoulli cross-entropy clips them to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]. Models are scored from
their logits, exactly as in training (`keras_vidrep.models.losses`), with no clipping.
"""
import numpy as np

from keras_vidrep.tasks.accumulate import MeanSummary

PROBABILITY_CLIP = 1e-4


def clipped_bernoulli_nats(targets, probabilities, clip=PROBABILITY_CLIP, axis=-1):
    """Cross-entropy in nats of clipped probabilities, summed over `axis` (the pixels)."""
    p = np.clip(probabilities, clip, 1.0 - clip)
    return -(targets * np.log(p) + (1.0 - targets) * np.log1p(-p)).sum(axis=axis)


def half_squared_error(targets, predictions, axis=-1):
    """0.5 * squared error, summed over `axis` (the pixels)."""
    return 0.5 * np.square(predictions - targets).sum(axis=axis)


def loss_of(output):
    """The per-frame loss of a predictor of probabilities (`sigmoid` data) or values (`linear` data)."""
    return clipped_bernoulli_nats if output == "sigmoid" else half_squared_error


def mean_frame(train_sequences):
    """The mean frame of training sequences (N, T, *frame_shape), float64 (*frame_shape)."""
    return np.asarray(train_sequences, np.float64).mean(axis=(0, 1))


def baseline_losses(mean, val_sequences, input_frames, future_frames, output="sigmoid"):
    """Losses per frame of the mean-training-frame and copy-last-frame predictors on the validation set.

    Args:
      mean: the mean training frame (*frame_shape), see `mean_frame`.
      val_sequences: (M, T, *frame_shape) validation sequences, or an iterable of such batches (summed batch by
        batch, so that the set need not be in memory).
      input_frames, future_frames: how a sequence is split.
      output: `sigmoid` (clipped Bernoulli cross-entropy) or `linear` (0.5 * squared error).

    Returns:
      dict: `baseline/mean_training_frame/reconstruction`, and with `future_frames` > 0
      `baseline/mean_training_frame/future` and `baseline/copy_last/future` (their TensorBoard tags).
    """
    loss = loss_of(output)
    mean = np.asarray(mean, np.float32).reshape(-1)
    batches = [val_sequences] if isinstance(val_sequences, np.ndarray) else val_sequences
    summary = MeanSummary()
    for val in batches:
        val = np.asarray(val, np.float32)
        val = val.reshape(len(val), val.shape[1], -1)
        inputs, futures = val[:, :input_frames], val[:, input_frames:input_frames + future_frames]
        out = {"mean_training_frame/reconstruction": loss(inputs, np.broadcast_to(mean, inputs.shape))}
        if future_frames:
            out["mean_training_frame/future"] = loss(futures, np.broadcast_to(mean, futures.shape))
            out["copy_last/future"] = loss(futures, np.broadcast_to(inputs[:, -1:], futures.shape))
        summary.add({f"baseline/{k}": v for k, v in out.items()})
    return summary.result()
