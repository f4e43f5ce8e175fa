"""Reference predictors that a learned model must beat, scored with the same per-frame losses (numpy only).

  * mean frame: every frame predicted as the average training frame;
  * copy last: every future frame predicted as the last input frame.

Bernoulli cross-entropy needs probabilities strictly inside (0, 1): baseline predictions are clipped to
[PROBABILITY_CLIP, 1 - PROBABILITY_CLIP] so the loss stays finite.
"""
import numpy as np

PROBABILITY_CLIP = 1e-4


def bernoulli_nats_per_frame(targets, probabilities, clip=PROBABILITY_CLIP):
    """Cross-entropy in nats, summed over pixels, averaged over frames and sequences. Arrays (N, T, pixels)."""
    p = np.clip(probabilities, clip, 1.0 - clip)
    per_pixel = -(targets * np.log(p) + (1.0 - targets) * np.log1p(-p))
    return float(per_pixel.sum(axis=-1).mean())


def squared_error_per_frame(targets, predictions):
    """0.5 * squared error, summed over pixels, averaged over frames and sequences."""
    return float(0.5 * np.square(predictions - targets).sum(axis=-1).mean())


def baseline_losses(train_sequences, val_sequences, input_frames, future_frames, output="sigmoid"):
    """Losses of the mean-frame and copy-last-frame predictors on the validation set.

    Args:
      train_sequences: (N, T, H, W) sequences the mean frame is estimated from.
      val_sequences: (M, T, H, W) validation sequences.
      input_frames, future_frames: how a sequence is split.
      output: `sigmoid` (Bernoulli cross-entropy) or `linear` (0.5 * squared error).

    Returns:
      dict: `mean_frame/reconstruction`, `mean_frame/future`, `copy_last/future`.
    """
    loss = bernoulli_nats_per_frame if output == "sigmoid" else squared_error_per_frame
    val = np.asarray(val_sequences, np.float32).reshape(len(val_sequences), val_sequences.shape[1], -1)
    inputs, futures = val[:, :input_frames], val[:, input_frames:input_frames + future_frames]
    mean = np.asarray(train_sequences, np.float32).reshape(-1, val.shape[-1]).mean(axis=0)
    return {"mean_frame/reconstruction": loss(inputs, np.broadcast_to(mean, inputs.shape)),
            "mean_frame/future": loss(futures, np.broadcast_to(mean, futures.shape)),
            "copy_last/future": loss(futures, np.broadcast_to(inputs[:, -1:], futures.shape))}
