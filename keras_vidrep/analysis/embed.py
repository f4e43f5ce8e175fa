"""Embeddings written with the video index and frame numbers: per-frame codes of a frames file by a trained frame
VAE, or per-window codes of a features file by a composite model trained on it (`data=video_features`).

Output `CODES.h5`: `means` (F, z) float32, optionally `log_variances` (F, z) and `reconstructions` (F, H, W, C)
uint8, and `video_index` (F,), `frame_number` (F,), `videos` (V,) names copied from the frames file; attributes name
the model directory, checkpoint and data file. Output `CODES.npy`: the means, with `CODES_video_index.npy`,
`CODES_frame_number.npy`, `CODES_videos.txt` (and `CODES_log_variances.npy`, `CODES_reconstructions.npy`) beside it.
Files are written batch by batch (memory holds one batch, whatever the file's size) under temporary names, renamed
when complete. Either way two pictures go beside the output: `CODES_samples.png` (frames decoded from prior samples) and
`CODES_reconstructions.png` (frames of the file over their reconstructions).

For a composite model of feature windows, `codes` (W, C) holds one code per window of `seq_length` consecutive
vectors inside one video (the bottleneck code, or the encoder's final states), with `video_index`, `frame_number`
(the window's first frame) and `end_frame_number` (its last).

Beside the output goes `CODES_projector/`, a log directory for TensorBoard's Embedding Projector
(`keras_vidrep.board.projector`): up to `projector_points` codes evenly spread over the file, each with its video,
frame number, label (the name of the video's folder: the class in a UCF-101-style tree) and k-means cluster, and
its thumbnail (the frame; for a window, its first frame, decoded from the video file).
"""
import os

import h5py
import numpy as np
from absl import logging
from keras import ops
from tqdm import tqdm

from keras_vidrep import pictures, trained
from keras_vidrep.board import projector
from keras_vidrep.data.checks import check_output_path
from keras_vidrep.data.frame_file import FeatureFile, FrameFile
from keras_vidrep.data.streams import spread
from keras_vidrep.data.video import frames_at
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.tasks.vae import frame_grid

FORMATS = (".h5", ".npy")
SHOWN = 10


def _stem(output):
    return os.path.splitext(output)[0]


def side_files(output):
    """Paths of the files written beside `output`."""
    stem = _stem(output)
    names = {"samples_png": "samples.png", "reconstructions_png": "reconstructions.png"}
    if output.endswith(".npy"):
        names.update(video_index="video_index.npy", frame_number="frame_number.npy", videos="videos.txt",
                     log_variances="log_variances.npy", reconstructions="reconstructions.npy",
                     end_frame_number="end_frame_number.npy")
    return {key: f"{stem}_{name}" for key, name in names.items()}


class ChunkedWriter:
    """Writes named arrays of `rows` rows, batch by batch, to `output` (.h5: one dataset each; .npy: the main array
    at `output` and the others beside it, see `side_files`) under temporary names that `finish` renames when all is
    written; `abort` removes them. Memory holds one batch whatever the number of rows."""

    def __init__(self, output, rows, main):
        self.output, self.rows, self.main = output, int(rows), main
        self.h5 = output.endswith(".h5")
        self._arrays, self._paths = {}, {}  # name -> dataset or memory map; final path -> temporary path
        self._file = None
        if self.h5:
            self._file = h5py.File(output + ".tmp", "w")
            self._paths[output] = output + ".tmp"

    def _array(self, name, values):
        if name not in self._arrays:
            shape, dtype = (self.rows, *values.shape[1:]), values.dtype
            if self.h5:
                self._arrays[name] = self._file.create_dataset(name, shape, dtype)
            else:
                path = self.output if name == self.main else side_files(self.output)[name]
                self._paths[path] = path + ".tmp"
                self._arrays[name] = np.lib.format.open_memmap(path + ".tmp", "w+", dtype, shape)
        return self._arrays[name]

    def write(self, start, values):
        """Rows [start, start + n) of each named array in `values`."""
        for name, batch in values.items():
            batch = np.asarray(batch)
            self._array(name, batch)[start:start + len(batch)] = batch

    def finish(self, index, videos, attributes):
        """Writes the whole-file arrays `index` ({name: (rows,)}), the video names and (.h5) `attributes`, then
        renames every file into place. Returns the paths written."""
        self.write(0, index)
        if self.h5:
            self._file.create_dataset("videos", data=np.array(videos, dtype=h5py.string_dtype()))
            self._file.attrs.update(attributes)
            self._file.close()
        else:
            for array in self._arrays.values():
                array.flush()
            names = side_files(self.output)["videos"]
            with open(names + ".tmp", "w", encoding="utf-8") as f:
                f.write("".join(f"{name}\n" for name in videos))
            self._paths[names] = names + ".tmp"
        self._arrays.clear()
        for path, tmp in self._paths.items():
            os.replace(tmp, path)
        return list(self._paths)

    def abort(self):
        """Removes whatever was written (the outputs of an earlier run stay as they were)."""
        self._arrays.clear()
        if self._file is not None:
            self._file.close()
        for tmp in self._paths.values():
            if os.path.exists(tmp):
                os.remove(tmp)


def embed_frames(vae, frames, writer, batch_size=256, log_variances=False, reconstructions=False):
    """Encodes every frame of a FrameFile batch by batch under a progress bar, writing `means` (F, z), and
    `log_variances` (F, z) / `reconstructions` (F, H, W, C) uint8 when asked for, to a `ChunkedWriter`."""
    for first in tqdm(range(0, len(frames), batch_size), desc="vidrep-embed", unit="batch", dynamic_ncols=True):
        images = frames.read(np.arange(first, min(first + batch_size, len(frames))))
        mean, log_variance = (ops.convert_to_numpy(t) for t in vae.encode(images))
        out = {"means": mean}
        if log_variances:
            out["log_variances"] = log_variance
        if reconstructions:
            out["reconstructions"] = pictures.to_uint8(ops.convert_to_numpy(vae.decode(mean)))
        writer.write(first, out)


def window_starts(file, length, stride=1):
    """Start rows of every `stride`-th window of `length` rows of a FeatureFile (never across videos)."""
    return file.window_starts(length, stride)


def embed_windows(model, file, starts, length, writer, batch_size=256, transform=None):
    """Writes `codes` of the windows of `length` rows at `starts` of a FeatureFile, read through `transform` (the
    model's input standardization, if any), to a `ChunkedWriter`. Returns the window index (`video_index`,
    `frame_number`, `end_frame_number`)."""
    for first in tqdm(range(0, len(starts), batch_size), desc="vidrep-embed", unit="batch", dynamic_ncols=True):
        windows = file.sequences(starts[first:first + batch_size], length)
        windows = transform(windows) if transform else windows
        writer.write(first, {"codes": ops.convert_to_numpy(model.code(np.asarray(windows, np.float32)))})
    return {"video_index": file.video_of(starts), "frame_number": file.frame_numbers(starts),
            "end_frame_number": file.frame_numbers(starts + length - 1)}


def frame_index(frames):
    """Every row's `video_index` and `frame_number` of a per-frame file."""
    rows = np.arange(len(frames))
    return {"video_index": frames.video_of(rows), "frame_number": frames.frame_numbers(rows)}


def write_pictures(vae, frames, output, seed=0, samples=40):
    """`<stem>_samples.png` (decoded prior samples) and `<stem>_reconstructions.png`; returns their paths."""
    side = side_files(output)
    decoded = ops.convert_to_numpy(vae.sample(samples, seed)[0])
    pictures.save_png(frame_grid([("z ~ N(0, I)", decoded)], f"{samples} decoded prior samples (seed {seed})"),
                 side["samples_png"])
    shown = frames.read(spread(np.arange(len(frames)), SHOWN))
    recon = ops.convert_to_numpy(vae.decode(vae.encode(shown)[0]))
    pictures.save_png(frame_grid([("data", shown), ("model", recon)], "frames of the file, evenly spaced"),
                 side["reconstructions_png"])
    return [side["samples_png"], side["reconstructions_png"]]


def read_rows(output, name, rows):
    """Rows `rows` (sorted) of the array `name` of a finished output (.h5, or .npy with its side files)."""
    if output.endswith(".h5"):
        with h5py.File(output, "r") as f:
            return f[name][rows]
    return np.load(output if name in ("means", "codes") else side_files(output)[name], mmap_mode="r")[rows]


def window_thumbnails(videos, video_index, frame_number, side=64):
    """The first frame of each window, decoded from its video file; None (and a log line) if one cannot be read."""
    out = np.zeros((len(video_index), side, side, 3), np.uint8)
    try:
        for video in np.unique(video_index):
            rows = np.flatnonzero(video_index == video)
            out[rows] = frames_at(videos[video], frame_number[rows], side)
    except DataError as e:
        logging.warning("projector without thumbnails: %s", e)
        return None
    return out


def write_projector(output, main, count, videos, thumbnails, points, clusters, seed=0):
    """`<stem>_projector/`: up to `points` of the `count` codes of the finished `output` (array `main`) evenly
    spread, with their video, frame, label (the video's folder name) and k-means cluster (`clusters`), and
    thumbnails (`thumbnails(rows, video_index, frame_number)` → images or None). Returns its path."""
    from sklearn.cluster import KMeans

    rows = spread(np.arange(count), points)
    codes = np.asarray(read_rows(output, main, rows), np.float32)
    video_index = np.asarray(read_rows(output, "video_index", rows))
    frame_number = np.asarray(read_rows(output, "frame_number", rows))
    k = min(clusters, len(rows))
    cluster = KMeans(k, n_init=4, random_state=seed).fit_predict(codes) if k >= 2 else np.zeros(len(rows), int)
    names = [str(videos[v]) for v in video_index]
    columns = {"video": [os.path.basename(n) for n in names], "frame": frame_number.tolist(),
               "label": [os.path.basename(os.path.dirname(n)) or "-" for n in names], "cluster": cluster.tolist()}
    return projector.write(f"{_stem(output)}_projector", codes, columns,
                           thumbnails(rows, video_index, frame_number))


def embed(model_dir, data_file, output, checkpoint="", batch_size=256, log_variances=False, reconstructions=False,
          seed=0, stride=1, projector_points=10000, clusters=8):
    """Embeds `data_file` with the model of `model_dir` and writes `output`: every frame by a frame VAE (with its
    pictures), or every `stride`-th window by a composite model of feature windows; then (`projector_points` > 0)
    the Projector log directory of up to that many codes, `clusters` k-means clusters.

    Returns:
      dict: `frames` and `latent_dim`, or `windows` and `code_size`; `files` written.
    """

    if not output.endswith(FORMATS):
        raise ConfigError(f"`output` must end in {' or '.join(FORMATS)}, got {output!r}")
    check_output_path(output)
    model, task, path = trained.restore_model(model_dir, checkpoint)
    attributes = {"model_dir": os.path.abspath(model_dir), "checkpoint": path, "data_file": os.path.abspath(data_file)}
    if task.name == "composite":  # codes of feature windows
        if task.config.data != "video_features":
            raise ConfigError(f"`model_dir` {model_dir!r} holds a composite model of `data`={task.config.data}; "
                              f"vidrep-embed reads frame VAEs and composite models of `data`=video_features")
        file = FeatureFile(data_file)
        if file.dim != task.config.feature_dim:
            raise ConfigError(f"`data_file` {data_file!r} holds {file.dim}-d features, but the model reads "
                              f"{task.config.feature_dim}-d")
        length = task.config.seq_length
        starts = window_starts(file, length, stride)
        writer = ChunkedWriter(output, len(starts), "codes")
        try:
            index = embed_windows(model, file, starts, length, writer, batch_size, task.standardize_inputs)
            files = writer.finish(index, file.videos, {**attributes, "window": length, "stride": stride})
        finally:
            writer.abort()
        code_size = int(model.code(np.zeros((1, length, file.dim), np.float32)).shape[-1])
        if projector_points:
            files.append(write_projector(output, "codes", len(starts), file.videos,
                                         lambda rows, video_index, numbers: window_thumbnails(
                                             file.videos, video_index, numbers), projector_points, clusters, seed))
        return {"windows": len(starts), "code_size": code_size, "files": files}
    vae = task.frame_vae(model)
    if vae is None:
        raise ConfigError(f"`model_dir` {model_dir!r} holds a {task.name} model, not a frame VAE (task vae or "
                          f"latent) or a composite model of feature windows")
    frames = FrameFile(data_file, vae.frame_shape[2])
    if frames.frame_shape != tuple(vae.frame_shape):
        raise ConfigError(f"`data_file` {data_file!r} holds frames of {frames.frame_shape[:2]}, but the VAE reads "
                          f"{tuple(vae.frame_shape[:2])}")
    writer = ChunkedWriter(output, len(frames), "means")
    try:
        embed_frames(vae, frames, writer, batch_size, log_variances, reconstructions)
        files = writer.finish(frame_index(frames), frames.videos, attributes)
    finally:
        writer.abort()
    files += write_pictures(vae, frames, output, seed)
    if projector_points:
        files.append(write_projector(output, "means", len(frames), frames.videos, lambda rows, *_: frames.read(rows),
                                     projector_points, clusters, seed))
    return {"frames": len(frames), "latent_dim": int(vae.latent_dim), "files": files}
