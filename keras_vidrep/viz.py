"""Pictures of sequences: image strips comparing ground truth with the model's outputs (numpy only)."""
import numpy as np


def comparison_strip(inputs, futures, reconstruction=None, prediction=None, separator=1):
    """One sequence as a two-row image: ground truth on top, the model below.

    Top row: the input frames, then the true future frames. Bottom row: the reconstruction put back into input
    order (the model outputs it reversed), then the predicted future frames. A missing part stays blank.

    Args:
      inputs: (T_in, H, W) input frames.
      futures: (T_out, H, W) true future frames.
      reconstruction: (T_in, H, W) reconstruction in the model's reversed order, or None.
      prediction: (T_out', H, W) predicted future, or None.
      separator: width of the gaps between frames, in pixels (a mid grey).

    Returns:
      float32 image (2*H + separator, W*(T_in+T_out) + gaps) in [0, 1].
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
    """Tiles equally sized (H, W) frames given as a list of rows into one image with grey gaps."""
    h, w = np.asarray(rows[0][0]).shape
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    out = np.full((n_rows * h + (n_rows - 1) * separator, n_cols * w + (n_cols - 1) * separator), 0.5, np.float32)
    for i, row in enumerate(rows):
        for j, frame in enumerate(row):
            y, x = i * (h + separator), j * (w + separator)
            out[y:y + h, x:x + w] = np.clip(frame, 0.0, 1.0)
    return out
