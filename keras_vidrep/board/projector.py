"""Embedding Projector log directories: codes TensorBoard's Projector tab shows in 3-D (PCA, t-SNE, UMAP), with a
row of metadata per code (coloured or searched by any column) and a thumbnail per code (the sprite).

`write(logdir, codes, columns, thumbnails)` writes into `logdir`:
  * `embedding.ckpt-1.*` — the codes (N, D) as a checkpointed variable (`checkpoint` names it);
  * `metadata.tsv` — a header, then one row per code (e.g. video, frame, label, cluster);
  * `sprite.png` — the thumbnails (N, h, w[, 3]) in one square grid, at most 8,192 pixels a side;
  * `projector_config.pbtxt` — what ties them together;
  * an event file with one text summary saying what the codes are (it makes `logdir` a run, which the Projector
    needs to find it under a parent `--logdir`).
Open with `tensorboard --logdir=LOGDIR` (or any parent), tab Projector. A directory written before is replaced as
a whole, so its files always belong together.
"""
import math
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

SPRITE_MAX = 8192  # pixels a side TensorBoard accepts
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"


def sprite(thumbnails, side):
    """Thumbnails (N, h, w[, C]) in [0, 1] or uint8 → one uint8 RGB grid of ceil(sqrt(N)) columns, each image
    resized to side × side."""
    images = np.asarray(thumbnails)
    images = images[..., None] if images.ndim == 3 else images
    images = np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images[..., :3]
    if images.dtype != np.uint8:
        images = (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if images.shape[1:3] != (side, side):
        images = tf.cast(tf.image.resize(images, (side, side), antialias=True) + 0.5, tf.uint8).numpy()
    columns = math.ceil(math.sqrt(len(images)))
    grid = np.zeros((columns * side, columns * side, 3), np.uint8)
    for i, image in enumerate(images):
        row, column = divmod(i, columns)
        grid[row * side:(row + 1) * side, column * side:(column + 1) * side] = image
    return grid


def thumbnail_side(count, height):
    """The sprite's image side for `count` thumbnails of `height` pixels: their own size, smaller if needed."""
    return int(max(1, min(height, SPRITE_MAX // math.ceil(math.sqrt(count)))))


def _cell(value):
    return str(value).replace("\t", " ").replace("\n", " ")


def write(logdir, codes, columns, thumbnails=None):
    """Writes a projector log directory (see the module docstring); returns `logdir`.

    Args:
      codes: (N, D) numbers.
      columns: {column name: N values}, at least two columns (TensorBoard reads a header only then).
      thumbnails: optional (N, h, w[, C]) images, floats in [0, 1] or uint8.
    """
    codes = np.asarray(codes, np.float32)
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"`codes` must be (N, D) with N > 0, got shape {codes.shape}")
    if len(columns) < 2 or any(len(values) != len(codes) for values in columns.values()):
        raise ValueError(f"`columns` must hold at least two columns of {len(codes)} values, got "
                         f"{ {k: len(v) for k, v in columns.items()} }")
    parent = os.path.dirname(os.path.abspath(logdir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".projector-", dir=parent)
    try:
        tf.train.Checkpoint(embedding=tf.Variable(codes)).save(os.path.join(staging, "embedding.ckpt"))
        with open(os.path.join(staging, "metadata.tsv"), "w", encoding="utf-8") as f:
            f.write("\t".join(columns) + "\n")
            for row in zip(*columns.values()):
                f.write("\t".join(_cell(v) for v in row) + "\n")
        config = projector.ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name, embedding.metadata_path = TENSOR_NAME, "metadata.tsv"
        if thumbnails is not None:
            if len(thumbnails) != len(codes):
                raise ValueError(f"{len(thumbnails)} thumbnails for {len(codes)} codes")
            side = thumbnail_side(len(codes), np.shape(thumbnails)[1])
            tf.io.write_file(os.path.join(staging, "sprite.png"), tf.io.encode_png(sprite(thumbnails, side)))
            embedding.sprite.image_path = "sprite.png"
            embedding.sprite.single_image_dim.extend([side, side])
        projector.visualize_embeddings(staging, config)
        writer = tf.summary.create_file_writer(staging)  # an event file makes the folder a run under any --logdir
        with writer.as_default():
            tf.summary.text("projector", f"{len(codes)} codes of {codes.shape[1]} values; metadata columns: "
                            f"{', '.join(columns)}; open the Projector tab", step=0)
        writer.close()
        if os.path.isdir(logdir):
            shutil.rmtree(logdir)
        os.replace(staging, logdir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return logdir
