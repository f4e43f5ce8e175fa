"""Per-frame metrics of predicted against true frames, per sequence and per horizon (TensorFlow: tf.image).

Definitions (each value is for one frame; tables average over frames and sequences):
  * `nats` (sigmoid models): Bernoulli cross-entropy summed over pixels, predictions clipped to
    [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]; `half_se` (linear models): 0.5 * squared error summed over pixels.
  * `mse`, `mae`: squared / absolute error summed over C x H x W (OpenSTL's definition).
  * `ssim`: tf.image.ssim, `psnr`: tf.image.psnr, both with peak value 1.
"""
import numpy as np
import tensorflow as tf

from keras_vidrep.baselines import PROBABILITY_CLIP

METRICS = ("loss", "mse", "mae", "ssim", "psnr")


def frame_metrics(targets, predictions, output="sigmoid", batch_size=256):
    """Metrics of every frame.

    Args:
      targets, predictions: float arrays (N, K, H, W) or (N, K, H, W, C) in [0, 1].
      output: `sigmoid` (loss = Bernoulli nats) or `linear` (loss = 0.5 * squared error).
      batch_size: sequences processed at once (bounds memory).

    Returns:
      dict metric name → float64 array (N, K); `loss` is the paper's loss for `output`.
    """
    targets, predictions = np.asarray(targets, np.float32), np.asarray(predictions, np.float32)
    if targets.shape != predictions.shape:
        raise ValueError(f"`targets` {targets.shape} and `predictions` {predictions.shape} differ in shape")
    if targets.ndim == 4:
        targets, predictions = targets[..., None], predictions[..., None]
    parts = [_metrics_of_batch(targets[i:i + batch_size], predictions[i:i + batch_size], output)
             for i in range(0, len(targets), batch_size)]
    return {name: np.concatenate([p[name] for p in parts]) for name in METRICS}


def _metrics_of_batch(targets, predictions, output):
    t, p = tf.constant(targets), tf.constant(predictions)
    pixel_axes = [2, 3, 4]
    if output == "sigmoid":
        q = tf.clip_by_value(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
        loss = -tf.reduce_sum(t * tf.math.log(q) + (1.0 - t) * tf.math.log1p(-q), axis=pixel_axes)
    else:
        loss = 0.5 * tf.reduce_sum(tf.square(p - t), axis=pixel_axes)
    return {"loss": loss.numpy().astype(np.float64),
            "mse": tf.reduce_sum(tf.square(p - t), axis=pixel_axes).numpy().astype(np.float64),
            "mae": tf.reduce_sum(tf.abs(p - t), axis=pixel_axes).numpy().astype(np.float64),
            "ssim": tf.image.ssim(t, p, max_val=1.0).numpy().astype(np.float64),
            "psnr": tf.image.psnr(t, p, max_val=1.0).numpy().astype(np.float64)}


def summarize(per_frame):
    """{metric: (N, K) array} → {metric: {"mean": float, "per_horizon": [K floats]}}."""
    return {name: {"mean": float(values.mean()), "per_horizon": [float(v) for v in values.mean(axis=0)]}
            for name, values in per_frame.items()}
