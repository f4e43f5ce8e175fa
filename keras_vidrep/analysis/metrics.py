"""Per-frame metrics of predicted against true frames, per sequence and per horizon (TensorFlow: tf.image).

Definitions (each value is for one frame; tables average over frames and sequences):
  * `loss`: the training loss of one frame (`keras_vidrep.models.losses`): from a model's logits, Bernoulli
    cross-entropy summed over pixels for sigmoid models, 0.5 * squared error for linear ones. For a baseline, which has
    probabilities and no logits, the cross-entropy of probabilities clipped to [PROBABILITY_CLIP,
    1 - PROBABILITY_CLIP] (`keras_vidrep.tasks.baselines`).
  * `mse`, `mae`: squared / absolute error summed over C x H x W (OpenSTL's definition).
  * `ssim`: tf.image.ssim (its 11-pixel window, or the frame size for frames smaller than that), `psnr`:
    tf.image.psnr, both with peak value 1, of the predictions clipped to [0, 1] (a linear output can leave that
    range; the truth is in it); PSNR is capped at PSNR_CAP dB, its value at a squared error of 1e-10 per pixel, so
    that identical frames give a finite number. Images only (frames (H, W) or (H, W, C)), left out for feature
    vectors.
"""
import numpy as np
import tensorflow as tf

from keras_vidrep.models import losses
from keras_vidrep.tasks import baselines

METRICS = ("loss", "mse", "mae", "ssim", "psnr")
IMAGE_METRICS = ("ssim", "psnr")
PSNR_CAP = 100.0  # dB: -10 log10(1e-10), identical frames


def frame_metrics(targets, predictions, output="sigmoid", logits=None, batch_size=256):
    """Metrics of every frame.

    Args:
      targets, predictions: float arrays (N, K, *frame_shape) in [0, 1] (sigmoid) or real-valued (linear).
      output: `sigmoid` or `linear`, the model's output kind.
      logits: the model's logits for `predictions` (sigmoid models); None for a baseline's probabilities.
      batch_size: sequences processed at once (bounds memory).

    Returns:
      dict metric name → float64 array (N, K).
    """
    targets, predictions = np.asarray(targets, np.float32), np.asarray(predictions, np.float32)
    if targets.shape != predictions.shape:
        raise ValueError(f"`targets` {targets.shape} and `predictions` {predictions.shape} differ in shape")
    parts = [_metrics_of_batch(targets[i:i + batch_size], predictions[i:i + batch_size], output,
                               None if logits is None else np.asarray(logits[i:i + batch_size], np.float32))
             for i in range(0, len(targets), batch_size)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _metrics_of_batch(targets, predictions, output, logits):
    n, k = targets.shape[:2]
    flat_t, flat_p = targets.reshape(n, k, -1), predictions.reshape(n, k, -1)
    if output == "sigmoid" and logits is None:
        loss = baselines.clipped_bernoulli_nats(flat_t, flat_p)
    else:
        given = flat_p if output == "linear" else logits.reshape(n, k, -1)
        loss = np.asarray(losses.frame_loss(output, per_frame=True)(tf.constant(flat_t), tf.constant(given)))
    out = {"loss": loss.astype(np.float64),
           "mse": np.square(flat_p - flat_t).sum(-1).astype(np.float64),
           "mae": np.abs(flat_p - flat_t).sum(-1).astype(np.float64)}
    frame_shape = targets.shape[2:]
    if len(frame_shape) in (2, 3):
        clipped = np.clip(predictions, 0.0, 1.0)
        t, p = (tf.constant(x if len(frame_shape) == 3 else x[..., None]) for x in (targets, clipped))
        window = min(11, *frame_shape[:2])  # tf.image.ssim's 11-pixel Gaussian window, smaller for tiny frames
        out["ssim"] = tf.image.ssim(t, p, max_val=1.0, filter_size=window).numpy().astype(np.float64)
        out["psnr"] = np.minimum(tf.image.psnr(t, p, max_val=1.0).numpy().astype(np.float64), PSNR_CAP)
    return out


def summarize(per_frame):
    """{metric: (N, K) array} → {metric: {"mean": float, "per_horizon": [K floats]}}."""
    return {name: {"mean": float(values.mean()), "per_horizon": [float(v) for v in values.mean(axis=0)]}
            for name, values in per_frame.items()}
