"""Per-frame metrics of predicted against true frames, per sequence and per horizon (TensorFlow: tf.image).

Definitions (each value is for one frame; tables average over frames and sequences):
  * `loss`: the training loss of one frame (`keras_vidrep.models.losses`): from a model's logits, Bernoulli
    cross-entropy summed over pixels for sigmoid models, 0.5 * squared error for linear ones. For a baseline, which has
    probabilities and no logits, the cross-entropy of probabilities clipped to [PROBABILITY_CLIP,
    1 - PROBABILITY_CLIP] (`keras_vidrep.tasks.baselines`).
  * `mse`, `mae`: squared / absolute error summed over C x H x W (OpenSTL's definition).
  * `ssim`: tf.image.ssim's definition (its 11-pixel Gaussian window of sigma 1.5, or the frame size for frames
    smaller than that; K1 = 0.01, K2 = 0.03; the SSIM map averaged over the frame and its channels), computed by
    `ssim` below; `psnr`: tf.image.psnr; both with peak value 1, of the predictions clipped to [0, 1] (a linear
    output can leave that range; the truth is in it); PSNR is capped at PSNR_CAP dB, its value at a squared error of
    1e-10 per pixel, so that identical frames give a finite number. Images only (frames (H, W) or (H, W, C)), left
    out for feature vectors.
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
        out["ssim"] = ssim(t, p, filter_size=window).numpy().astype(np.float64)
        out["psnr"] = np.minimum(tf.image.psnr(t, p, max_val=1.0).numpy().astype(np.float64), PSNR_CAP)
    return out


def ssim(x, y, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """tf.image.ssim of the image batches `x` and `y` (..., H, W, C), equal to it up to float32 rounding, faster on
    CPU: the Gaussian window slides over each channel as a plain tf.nn.conv2d, where tf.image.ssim's depthwise
    convolution took over 90% of a vidrep-eval (4x slower on 2 AVX2 cores for 64x64 frames)."""
    x, y = tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(y, tf.float32)
    offsets = tf.range(filter_size, dtype=tf.float32) - (filter_size - 1) / 2.0
    gauss = tf.nn.softmax(-0.5 * tf.square(offsets) / filter_sigma ** 2)  # the 1-D window; the 2-D one its product
    kernel = tf.reshape(gauss[:, None] * gauss[None, :], (filter_size, filter_size, 1, 1))
    height, width, channels = x.shape[-3:]

    def local_mean(images):  # (..., H, W, C) -> (..., H', W', C): the window's weighted mean at every position
        lead = tf.shape(images)[:-3]
        planes = tf.reshape(tf.experimental.numpy.moveaxis(images, -1, -3), (-1, height, width, 1))
        means = tf.nn.conv2d(planes, kernel, strides=1, padding="VALID")
        means = tf.reshape(means, tf.concat([lead, [channels], tf.shape(means)[1:3]], 0))
        return tf.experimental.numpy.moveaxis(means, -3, -1)

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mean_x, mean_y = local_mean(x), local_mean(y)
    luminance = (2.0 * mean_x * mean_y + c1) / (tf.square(mean_x) + tf.square(mean_y) + c1)
    twice_covariance = local_mean(x * y) * 2.0 - 2.0 * mean_x * mean_y  # 2 cov(x, y), each within the window
    variances = local_mean(tf.square(x) + tf.square(y)) - (tf.square(mean_x) + tf.square(mean_y))  # var x + var y
    structure = (twice_covariance + c2) / (variances + c2)
    return tf.reduce_mean(luminance * structure, axis=(-3, -2, -1))


def summarize(per_frame):
    """{metric: (N, K) array} → {metric: {"mean": float, "per_horizon": [K floats]}}."""
    return {name: {"mean": float(values.mean()), "per_horizon": [float(v) for v in values.mean(axis=0)]}
            for name, values in per_frame.items()}
