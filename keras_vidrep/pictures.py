"""Pictures of sequences: labelled strips and animations comparing ground truth with the model (numpy + Pillow).

Frames are grey (H, W) or colour (H, W, C) with C = 1 or 3, values in [0, 1]; the pictures are RGB, with the
rows (`truth`, `model`), the parts (`input`, `future`, `no truth` past the end of the true frames) and the frame
numbers written on them."""
import io

import numpy as np

BACKGROUND = 0.12  # label bands
HATCH = (0.35, 0.35, 0.35)  # cells with nothing to show (no truth past its end, no reconstruction)
TEXT = (235, 235, 235)
MUTED = (170, 170, 170)
BOUNDARY = (1.0, 1.0, 1.0)  # line between input and future frames
TRUTH_END = (0.95, 0.3, 0.25)  # line where the true frames end in a longer rollout


def comparison_strip(inputs, futures, reconstruction=None, prediction=None, per_row=20, first_frame=1):
    """One sequence as a labelled image: ground truth (row `truth`) over the model (row `model`).

    Columns are the frames, numbered from `first_frame` under each column, grouped under `input` and `future`
    headers. The truth row holds the input then the true future frames; the model row the reconstruction put
    back into input order (the model outputs it reversed), then the prediction. A prediction longer than the
    truth (a rollout) continues past a red line under `no truth`, where the truth row is hatched; a missing part
    is hatched too. More than `per_row` columns wrap into further blocks.

    Args:
      inputs: (T_in, H, W[, C]) input frames in [0, 1].
      futures: (T_out, H, W[, C]) true future frames.
      reconstruction: (T_in, H, W[, C]) reconstruction in the model's reversed order, or None.
      prediction: (T_pred, H, W[, C]) predicted future frames, or None.

    Returns:
      float32 RGB image (height, width, 3) in [0, 1].
    """
    inputs, futures = np.asarray(inputs), np.asarray(futures)
    t_in, t_out = len(inputs), len(futures)
    pred = [] if prediction is None else list(np.asarray(prediction))
    recon = [None] * t_in if reconstruction is None else list(np.asarray(reconstruction)[::-1])
    columns = t_in + max(t_out, len(pred))
    truth = (list(inputs) + list(futures) + [None] * columns)[:columns]
    model = (recon + pred + [None] * columns)[:columns]
    groups = [("input", 0, t_in), ("future", t_in, t_in + t_out)]
    if columns > t_in + t_out:
        groups.append(("no truth", t_in + t_out, columns))
    return labelled_grid([("truth", truth), ("model", model)], groups, per_row, first_frame)


def labelled_grid(rows, groups, per_row=20, first_frame=1):
    """Rows of equally sized frames (None: hatched) with row labels, group headers and frame numbers.

    Args:
      rows: [(label, [frame or None, ...])], frames (H, W[, C]) in [0, 1], all rows as long.
      groups: [(header, first column, end column)] covering the columns; a line marks each group's start (red
        before `no truth`).
      per_row: columns per block; longer rows wrap into blocks stacked top to bottom.
      first_frame: the number printed under column 0.
    """
    shape = next(np.asarray(f).shape for _, frames in rows for f in frames if f is not None)
    columns = len(rows[0][1])
    blocks = [_block(rows, groups, lo, min(lo + per_row, columns), shape, first_frame)
              for lo in range(0, columns, per_row)]
    width = max(b.shape[1] for b in blocks)
    blocks = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=BACKGROUND) for b in blocks]
    return np.concatenate(blocks, axis=0)


def _block(rows, groups, lo, hi, shape, first_frame, gap=2):
    h, w = shape[:2]
    font = _font(h)
    line = _text_size(font, "0")[1] + 4
    label_w = max(_text_size(font, label)[0] for label, _ in rows) + 6
    top, bottom = line, line
    height = top + len(rows) * (h + gap) - gap + bottom
    width = label_w + (hi - lo) * (w + gap)
    image = np.full((height, width, 3), BACKGROUND, np.float32)
    texts = []
    x_of = {c: label_w + (c - lo) * (w + gap) for c in range(lo, hi + 1)}
    for r, (label, frames) in enumerate(rows):
        y = top + r * (h + gap)
        texts.append((2, y + (h - line) // 2 + 2, label, TEXT))
        for c in range(lo, hi):
            image[y:y + h, x_of[c]:x_of[c] + w] = _cell(frames[c], shape)
    for c in range(lo, hi):
        number = str(first_frame + c)
        texts.append((x_of[c] + (w - _text_size(font, number)[0]) // 2, top + len(rows) * (h + gap) - gap + 2,
                      number, MUTED))
    for header, start, end in groups:
        a, b = max(start, lo), min(end, hi)
        if a >= b:
            continue
        texts.append((x_of[a] + 1, 2, header if a == start else f"{header} (cont.)", TEXT))
        if start == a and start > 0:
            colour = TRUTH_END if header == "no truth" else BOUNDARY
            image[:, x_of[a] - gap:x_of[a]] = colour
    return _draw_texts(image, texts, font)


def _cell(frame, shape):
    if frame is None:
        h, w = shape[:2]
        ys, xs = np.mgrid[:h, :w]
        hatch = ((ys + xs) % 8 < 2)[..., None]
        return np.where(hatch, np.asarray(HATCH, np.float32) + 0.2, np.asarray(HATCH, np.float32))
    frame = np.clip(np.asarray(frame, np.float32), 0.0, 1.0)
    if frame.ndim == 2:
        frame = frame[..., None]
    return np.broadcast_to(frame, frame.shape[:2] + (3,)) if frame.shape[-1] == 1 else frame


def _font(frame_height):
    from PIL import ImageFont

    return ImageFont.load_default(size=int(min(12, max(8, frame_height // 5))))


def _text_size(font, text):
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom


def _draw_texts(image, texts, font):
    from PIL import Image, ImageDraw

    canvas = Image.fromarray((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for x, y, text, colour in texts:
        draw.text((x, y), text, fill=colour, font=font)
    return np.asarray(canvas, np.float32) / 255.0


def side_by_side_frames(inputs, futures, reconstruction=None, prediction=None):
    """Labelled frames of an animation: at step t, ground truth (left, `truth`) beside the model (right, `model`).

    During the input frames the model side shows the reconstruction (put back into input order), then the
    prediction. A caption under each frame says which frame it is: `input 3/10`, `future 4/10`, or for a rollout
    past the truth `future 14 (no truth)`, where the truth side is hatched. Returns float32 RGB (T, height,
    width, 3).
    """
    inputs, futures = np.asarray(inputs), np.asarray(futures)
    t_in, t_out = len(inputs), len(futures)
    recon = [None] * t_in if reconstruction is None else list(np.asarray(reconstruction)[::-1])
    pred = [] if prediction is None else list(np.asarray(prediction))
    steps = t_in + max(t_out, len(pred))
    truth = (list(inputs) + list(futures) + [None] * steps)[:steps]
    model = (recon + pred + [None] * steps)[:steps]
    shape = inputs.shape[1:]
    font = _font(shape[0])
    line = _text_size(font, "0")[1] + 4
    captions = [f"input {t + 1}/{t_in}" if t < t_in else f"future {t - t_in + 1}/{t_out}" if t < t_in + t_out
                else f"future {t - t_in + 1} (no truth)" for t in range(steps)]
    width = max([2 * shape[1] + 2] + [_text_size(font, c)[0] + 4 for c in captions])
    out = []
    for t, caption in enumerate(captions):
        cells = np.concatenate([_cell(truth[t], shape), np.full((shape[0], 2, 3), BACKGROUND, np.float32),
                                _cell(model[t], shape)], axis=1)
        image = np.full((line + shape[0] + line, width, 3), BACKGROUND, np.float32)
        image[line:line + shape[0], :cells.shape[1]] = cells
        texts = [(1, 2, "truth", TEXT), (shape[1] + 3, 2, "model", TEXT),
                 (2, line + shape[0] + 2, caption, TRUTH_END_TEXT if t >= t_in + t_out else TEXT)]
        out.append(_draw_texts(image, texts, font))
    return np.stack(out)


TRUTH_END_TEXT = tuple(int(255 * v) for v in TRUTH_END)


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
    images = [_pil(f, scale) for f in np.asarray(frames)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return buffer.getvalue()


def save_gif(frames, path, fps=4, scale=2):
    with open(path, "wb") as f:
        f.write(gif_bytes(frames, fps, scale))
    return path


def save_mp4(frames, path, fps=4, scale=2):
    """An MP4 (MPEG-4 part 2, OpenCV's `mp4v`: plays in browsers' and desktop players) of grey or RGB frames
    (T, H, W[, C]) in [0, 1], each scaled `scale` times (nearest neighbour) to an even size."""
    import cv2  # video files only

    images = [np.asarray(_pil(f, scale).convert("RGB")) for f in np.asarray(frames)]
    height, width = images[0].shape[0] // 2 * 2, images[0].shape[1] // 2 * 2
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    try:
        for image in images:
            writer.write(cv2.cvtColor(image[:height, :width], cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def save_figure(fig, path, dpi=110):
    """Writes a matplotlib figure to `path` (laid out tight) and closes it; returns the path."""
    import matplotlib.pyplot as plt  # plotting only: not imported by the pictures of frames

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
