"""Pictures of sequences: image strips comparing ground truth with the model's outputs (numpy only).

Frames are grey (H, W) or colour (H, W, C) with C = 1 or 3, values in [0, 1]."""
import numpy as np


def comparison_strip(inputs, futures, reconstruction=None, prediction=None, separator=1):
    """One sequence as a two-row image: ground truth on top, the model below.

    Top row: the input frames, then the true future frames. Bottom row: the reconstruction put back into input
    order (the model outputs it reversed), then the predicted future frames. A missing part stays blank.

    Args:
      inputs: (T_in, H, W[, C]) input frames.
      futures: (T_out, H, W[, C]) true future frames.
      reconstruction: (T_in, H, W[, C]) reconstruction in the model's reversed order, or None.
      prediction: (T_out', H, W[, C]) predicted future, or None.
      separator: width of the gaps between frames, in pixels (a mid grey).

    Returns:
      float32 image (2*H + separator, W*(T_in+T_out) + gaps[, C]) in [0, 1].
    """
    inputs, futures = np.asarray(inputs), np.asarray(futures)
    blank = np.zeros_like(inputs[:1])
    top = list(inputs) + list(futures)
    recon = list(np.asarray(reconstruction)[::-1]) if reconstruction is not None else [blank[0]] * len(inputs)
    pred = list(np.asarray(prediction)) if prediction is not None else []
    bottom = recon + pred + [blank[0]] * max(0, len(futures) - len(pred))
    width = max(len(top), len(bottom))
    top += [blank[0]] * (width - len(top))
    bottom += [blank[0]] * (width - len(bottom))
    return grid([top, bottom], separator)


def grid(rows, separator=1):
    """Tiles equally sized (H, W[, C]) frames given as a list of rows into one image with grey gaps."""
    h, w, *channels = np.asarray(rows[0][0]).shape
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    out = np.full((n_rows * h + (n_rows - 1) * separator, n_cols * w + (n_cols - 1) * separator, *channels), 0.5,
                  np.float32)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            y, x = i * (h + separator), j * (w + separator)
            out[y:y + h, x:x + w] = np.clip(frame, 0.0, 1.0)
    return out


def side_by_side_frames(inputs, futures, reconstruction=None, prediction=None, separator=1):
    """Frames of an animation: at step t, ground truth (left) beside the model (right).

    During the input frames the model side shows the reconstruction (put back into input order), then the
    prediction. Returns float32 (T_in + T_out, H, 2*W + separator[, C]).
    """
    inputs, futures = np.asarray(inputs), np.asarray(futures)
    blank = np.zeros_like(inputs[0])
    recon = np.asarray(reconstruction)[::-1] if reconstruction is not None else [blank] * len(inputs)
    pred = list(np.asarray(prediction)) if prediction is not None else []
    truth = list(inputs) + list(futures)
    model = list(recon) + pred
    steps = max(len(truth), len(model))
    truth += [blank] * (steps - len(truth))
    model += [blank] * (steps - len(model))
    return np.stack([grid([[a, b]], separator) for a, b in zip(truth, model)])


def rollout_grid(frames, per_row=20, separator=1):
    """A long sequence of frames (T, H, W[, C]) tiled into rows of `per_row`."""
    frames = list(np.asarray(frames))
    return grid([frames[i:i + per_row] for i in range(0, len(frames), per_row)], separator)


def to_uint8(image):
    """[0, 1] floats → uint8, with a single channel axis dropped (grey)."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _pil(image, scale):
    from PIL import Image

    return Image.fromarray(to_uint8(image)).resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)


def save_png(image, path, scale=2):
    """Writes a grey or RGB image in [0, 1] as PNG, enlarged `scale` times (nearest neighbour)."""
    _pil(np.asarray(image), scale).save(path)
    return path


def gif_bytes(frames, fps=4, scale=2):
    """An endlessly looping animated GIF of grey or RGB frames (T, H, W[, C]) in [0, 1]."""
    import io

    images = [_pil(f, scale) for f in np.asarray(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return buffer.getvalue()


def save_gif(frames, path, fps=4, scale=2):
    with open(path, "wb") as f:
        f.write(gif_bytes(frames, fps, scale))
    return path
