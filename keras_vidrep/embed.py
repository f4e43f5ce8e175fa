"""Embeddings written with the video index and frame numbers: per-frame codes of a frames file by a trained frame
VAE, or per-window codes of a features file by a composite model trained on it (`data=video_features`).

Output `CODES.h5`: `means` (F, z) float32, optionally `log_variances` (F, z) and `reconstructions` (F, H, W, C)
uint8, and `video_index` (F,), `frame_number` (F,), `videos` (V,) names copied from the frames file; attributes name
the model directory, checkpoint and data file. Output `CODES.npy`: the means, with `CODES_video_index.npy`,
`CODES_frame_number.npy`, `CODES_videos.txt` (and `CODES_log_variances.npy`, `CODES_reconstructions.npy`) beside it.
Either way two pictures go beside the output: `CODES_samples.png` (frames decoded from prior samples) and
`CODES_reconstructions.png` (frames of the file over their reconstructions).

For a composite model of feature windows, `codes` (W, C) holds one code per window of `seq_length` consecutive
vectors inside one video (the bottleneck code, or the encoder's final states), with `video_index`, `frame_number`
(the window's first frame) and `end_frame_number` (its last). Files are written under temporary names and renamed
when complete.
"""
import os

import numpy as np
from tqdm import tqdm

from keras_vidrep import viz
from keras_vidrep.data.checks import check_output_path
from keras_vidrep.data.frame_file import FrameFile
from keras_vidrep.data.streams import spread
from keras_vidrep.errors import ConfigError

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


def frame_vae(model):
    """The ConvVAE of a `vae` model, or of a latent predictor (its frozen VAE)."""
    vae = getattr(model, "vae", model)
    if not hasattr(vae, "sample") or not hasattr(vae, "encode"):
        raise ConfigError("`model_dir` holds no frame VAE (task vae or latent)")
    return vae


def embed_frames(vae, frames, batch_size=256, log_variances=False, reconstructions=False):
    """Encodes a FrameFile batch by batch under a progress bar.

    Returns:
      dict `means` (F, z), and `log_variances` (F, z) / `reconstructions` (F, H, W, C) uint8 when asked for.
    """
    from keras import ops

    out = {"means": []}
    if log_variances:
        out["log_variances"] = []
    if reconstructions:
        out["reconstructions"] = []
    for first in tqdm(range(0, len(frames), batch_size), desc="vidrep-embed", unit="batch", dynamic_ncols=True):
        images = frames.read(np.arange(first, min(first + batch_size, len(frames))))
        mean, log_variance = (ops.convert_to_numpy(t) for t in vae.encode(images))
        out["means"].append(mean)
        if log_variances:
            out["log_variances"].append(log_variance)
        if reconstructions:
            out["reconstructions"].append(viz.to_uint8(ops.convert_to_numpy(vae.decode(mean))))
    return {k: np.concatenate(v) for k, v in out.items()}


def embed_windows(model, file, length, stride=1, batch_size=256, transform=None):
    """Codes of every `stride`-th window of `length` rows of a FeatureFile (never across videos), read through
    `transform` (the model's input standardization, if any).

    Returns:
      (dict `codes`, index dict `video_index`, `frame_number`, `end_frame_number`)."""
    from keras import ops

    starts = file.windows(np.arange(len(file)), length)[::stride]
    codes = []
    for first in tqdm(range(0, len(starts), batch_size), desc="vidrep-embed", unit="batch", dynamic_ncols=True):
        windows = file.sequences(starts[first:first + batch_size], length)
        windows = transform(windows) if transform else windows
        codes.append(ops.convert_to_numpy(model.code(np.asarray(windows, np.float32))))
    index = {"video_index": file.video_index[starts], "frame_number": file.frame_number[starts],
             "end_frame_number": file.frame_number[starts + length - 1]}
    return {"codes": np.concatenate(codes)}, index


def write_embeddings(result, frames, output, attributes, index=None):
    """Writes `result` and the index (default: every row's of `frames`) to `output` (.h5 or .npy)."""
    import h5py

    index = index or {"video_index": np.asarray(frames.video_index, np.int64),
                      "frame_number": np.asarray(frames.frame_number, np.int64)}
    if output.endswith(".h5"):
        tmp = output + ".tmp"
        try:
            with h5py.File(tmp, "w") as f:
                for name, values in {**result, **index}.items():
                    f.create_dataset(name, data=values)
                f.create_dataset("videos", data=np.array(frames.videos, dtype=h5py.string_dtype()))
                f.attrs.update(attributes)
            os.replace(tmp, output)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return [output]
    side = side_files(output)
    main = "means" if "means" in result else "codes"
    targets = {output: result[main], **{side[k]: v for k, v in result.items() if k != main},
               **{side[k]: v for k, v in index.items()}}
    for path, values in targets.items():
        with open(path + ".tmp", "wb") as f:
            np.save(f, values)
        os.replace(path + ".tmp", path)
    with open(side["videos"], "w", encoding="utf-8") as f:
        f.write("".join(f"{name}\n" for name in frames.videos))
    return list(targets) + [side["videos"]]


def write_pictures(vae, frames, output, seed=0, samples=40):
    """`<stem>_samples.png` (decoded prior samples) and `<stem>_reconstructions.png`; returns their paths."""
    from keras import ops

    from keras_vidrep.tasks.vae import frame_grid

    side = side_files(output)
    decoded = ops.convert_to_numpy(vae.sample(samples, seed)[0])
    viz.save_png(frame_grid([("z ~ N(0, I)", decoded)], f"{samples} decoded prior samples (seed {seed})"),
                 side["samples_png"])
    shown = frames.read(spread(np.arange(len(frames)), SHOWN))
    recon = ops.convert_to_numpy(vae.decode(vae.encode(shown)[0]))
    viz.save_png(frame_grid([("data", shown), ("model", recon)], "frames of the file, evenly spaced"),
                 side["reconstructions_png"])
    return [side["samples_png"], side["reconstructions_png"]]


def embed(model_dir, data_file, output, checkpoint="", batch_size=256, log_variances=False, reconstructions=False,
          seed=0, stride=1):
    """Embeds `data_file` with the model of `model_dir` and writes `output`: every frame by a frame VAE (with its
    pictures), or every `stride`-th window by a composite model of feature windows.

    Returns:
      dict: `frames` and `latent_dim`, or `windows` and `code_size`; `files` written.
    """
    from keras_vidrep.training import checkpoints

    if not output.endswith(FORMATS):
        raise ConfigError(f"`output` must end in {' or '.join(FORMATS)}, got {output!r}")
    check_output_path(output)
    model, task, path = checkpoints.restore_model(model_dir, checkpoint)
    attributes = {"model_dir": os.path.abspath(model_dir), "checkpoint": path, "data_file": os.path.abspath(data_file)}
    if hasattr(model, "code"):  # a composite model: codes of feature windows
        from keras_vidrep.data.frame_file import FeatureFile

        if task.config.data != "video_features":
            raise ConfigError(f"`model_dir` {model_dir!r} holds a composite model of `data`={task.config.data}; "
                              f"vidrep-embed reads frame VAEs and composite models of `data`=video_features")
        file = FeatureFile(data_file)
        if file.dim != task.config.feature_dim:
            raise ConfigError(f"`data_file` {data_file!r} holds {file.dim}-d features, but the model reads "
                              f"{task.config.feature_dim}-d")
        length = task.config.seq_length
        task.prepare_data()  # the input standardization comes from the training data
        result, index = embed_windows(model, file, length, stride, batch_size, task.source.standardize)
        files = write_embeddings(result, file, output, {**attributes, "window": length, "stride": stride}, index)
        return {"windows": len(result["codes"]), "code_size": int(result["codes"].shape[1]), "files": files}
    vae = frame_vae(model)
    frames = FrameFile(data_file, vae.frame_shape[2])
    if frames.frame_shape != tuple(vae.frame_shape):
        raise ConfigError(f"`data_file` {data_file!r} holds frames of {frames.frame_shape[:2]}, but the VAE reads "
                          f"{tuple(vae.frame_shape[:2])}")
    result = embed_frames(vae, frames, batch_size, log_variances, reconstructions)
    files = write_embeddings(result, frames, output, attributes)
    files += write_pictures(vae, frames, output, seed)
    return {"frames": len(frames), "latent_dim": int(result["means"].shape[1]), "files": files}
