"""Builds datasets from videos (files through OpenCV, or TFDS `ucf101`), with a per-video index.

  * `kind=patches`: dataset `patches` uint8 (N, seq_length, size, size, 3) — what `--data=patches
    --data_file=FILE.h5` trains on — plus `video_index` (N,) and `start_frame` (N,).
  * `kind=frames`: dataset `frames` uint8 (F, size, size, 3), every kept frame resized (optionally its centred
    square, keeping the aspect ratio), plus `video_index` (F,) and `frame_number` (F,), the frame's number in its
    video (counting every frame, so frame skip shows) — what frame models (`--task=vae`) and `vidrep-embed` read.
  * both: `videos` (V,) names and `counts` (V,) rows per video; attributes record the settings used.
  * `kind=features` (`write_features`): the original fc6 format — `hidden6` (F, D) float32 in FILE.h5 and
    FILE_num_frames.txt, FILE_labels.txt beside it (labels: the sorted names of the videos' folders, listed in
    FILE_classes.txt; video names in FILE_videos.txt).

The file is written under a temporary name and renamed when complete, so an interrupted run leaves no
half-written dataset behind.
"""
import os
import sys

import h5py
import numpy as np
from tqdm import tqdm

from keras_vidrep.data import video
from keras_vidrep.data.backbone import RESIZE
from keras_vidrep.data.checks import attempt_path, check_output_path
from keras_vidrep.data.video_input import plain_attributes
from keras_vidrep.errors import DataError

KINDS = ("patches", "frames")


def video_files(spec, frame_skip=1, size=None, short_side=0, max_frames=None, crop_square=False):
    """(name, frames) of every video file `spec` names (see `video.find_videos`; or a list of paths), decoded
    lazily."""
    for path in (spec if isinstance(spec, list) else video.find_videos(spec)):
        yield path, lambda path=path: video.read_video(path, frame_skip, size, short_side, max_frames, crop_square)


def tfds_videos(name="ucf101", split="train", data_dir=None, frame_skip=1, size=None, short_side=0,
                max_frames=None, crop_square=False):
    """(name, frames) of every example of a prepared TFDS video dataset (feature `video`, uint8 RGB)."""
    import tensorflow_datasets as tfds

    try:
        ds = tfds.load(name, split=split, data_dir=data_dir, download=False)
    except Exception as e:  # TFDS raises many types when the data is absent
        raise DataError(f"TFDS {name} ({split}) could not be loaded ({type(e).__name__}: "
                        f"{str(e).splitlines()[0]})") from None
    for i, example in enumerate(tfds.as_numpy(ds)):
        def frames(example=example, i=i):
            kept = np.asarray(example["video"])[::frame_skip][:max_frames]
            if crop_square:
                kept = np.stack([video.center_square(f) for f in kept])
            if size:
                kept = np.stack([video.resize_frame(f, *size) for f in kept])
            elif short_side:
                scale = short_side / min(kept.shape[1:3])
                kept = np.stack([video.resize_frame(f, max(1, round(kept.shape[2] * scale)),
                                                    max(1, round(kept.shape[1] * scale))) for f in kept])
            return kept
        yield f"tfds:{name}/{split}/{int(example.get('label', 0))}/{i}", frames


def _each_video(videos, process, skip_bad, skipped, description, total, progress=True):
    """Yields (name, process(position, name, frames)) for each (name, load_frames) of `videos`, under a progress
    bar (unless `progress` is False); `position` is the video's place in `videos`, skipped ones counted.

    A DataError (a file OpenCV cannot decode, a video too short) stops everything, or with `skip_bad` is reported
    on stderr and the video's name added to `skipped`."""
    bar = tqdm(videos, total=total, desc=description, unit="video", dynamic_ncols=True, disable=not progress)
    try:
        for position, (name, load) in enumerate(bar):
            try:
                result = process(position, name, load())
            except DataError as e:
                if not skip_bad:
                    raise
                bar.write(f"{description.split()[0]}: skipped {e}", file=sys.stderr)
                skipped.append(name)
                continue
            yield name, result
    finally:
        bar.close()  # before any error is printed


def write_dataset(videos, output, kind="patches", size=32, seq_length=20, crops="random", per_video=10, seed=0,
                  skip_bad=False, settings=None, total=None, frame_skip=1, first_video=0, progress=True):
    """Writes the HDF5 dataset of `kind` from `videos` ((name, load_frames) pairs) to `output`.

    Args:
      size: patch size (patches) or frame size (frames; frames are resized to size x size before this call).
      seq_length, crops, per_video: how patches are cut (see `video.patch_sequences`).
      skip_bad: warn about and skip a video that cannot be decoded or is too short, instead of stopping.
      settings: dict stored as attributes of the file.
      frame_skip: the frame skip the videos were decoded with (frames: for `frame_number`).
      total: number of videos, for the progress bar.
      first_video: the number of the first of `videos` in the whole video list (a shard's first video): the random
        crops of video number v are drawn from (seed, v), so a dataset is the same written whole or in shards.

    Returns:
      dict with `videos` (written), `skipped` (names) and `rows` (patches or frames written).
    """
    if kind not in KINDS:
        raise DataError(f"`kind` must be one of {', '.join(KINDS)}, got {kind!r}")
    check_output_path(output)
    tmp = attempt_path(output)
    names, counts, skipped, rows = [], [], [], 0
    try:
        with h5py.File(tmp, "w") as f:
            shape = (seq_length, size, size, 3) if kind == "patches" else (size, size, 3)
            # One sequence per chunk: training reads sequences in random order.
            data = f.create_dataset(kind, (0, *shape), np.uint8, maxshape=(None, *shape),
                                    chunks=(1 if kind == "patches" else 64, *shape))
            index = f.create_dataset("video_index", (0,), np.int32, maxshape=(None,))
            # patches: the first frame of each sequence; frames: each frame's number in its video
            starts = f.create_dataset("start_frame" if kind == "patches" else "frame_number", (0,), np.int32,
                                      maxshape=(None,))

            def cut(position, name, frames):
                if kind == "patches":
                    rng = np.random.default_rng([seed, first_video + position])
                    return video.patch_sequences(frames, seq_length, size, crops, per_video, rng, name)
                if frames.shape[1:] != shape:
                    raise DataError(f"{name}: frames are {frames.shape[1:]}, expected {shape}")
                return frames, np.arange(len(frames)) * frame_skip

            for name, (block, first) in _each_video(videos, cut, skip_bad, skipped, f"vidrep-preprocess {kind}",
                                                    total, progress):
                n = len(block)
                for dataset in (data, index, starts):
                    dataset.resize(rows + n, axis=0)
                data[rows:rows + n] = block
                index[rows:rows + n] = len(names)
                starts[rows:rows + n] = first
                rows += n
                names.append(name)
                counts.append(n)
            if not names:
                raise DataError("no video could be used" + (f" ({len(skipped)} skipped)" if skipped else ""))
            f.create_dataset("videos", data=np.array(names, dtype=h5py.string_dtype()))
            f.create_dataset("counts", data=np.array(counts, np.int64))
            f.attrs.update(dict((settings or {}).items()))
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"videos": len(names), "skipped": skipped, "rows": rows}


def feature_side_files(output):
    """The text files written beside a features file: num_frames, labels, classes, videos."""
    stem = output[:-len(os.path.splitext(output)[1])] if os.path.splitext(output)[1] else output
    return {kind: f"{stem}_{kind}.txt" for kind in ("num_frames", "labels", "classes", "videos")}


def write_feature_side_files(output, names, counts):
    """The text files of the fc6 format beside `output` for videos `names` with `counts` frames: labels are the
    sorted names of the videos' folders. Returns the files' paths."""
    side = feature_side_files(output)
    folders = [os.path.basename(os.path.dirname(n)) for n in names]
    classes = sorted(set(folders))
    for kind, lines in (("num_frames", counts), ("labels", [classes.index(c) for c in folders]),
                        ("classes", classes), ("videos", names)):
        with open(side[kind], "w", encoding="utf-8") as out:
            out.write("".join(f"{line}\n" for line in lines))
    return side


def write_features(videos, output, backbone, skip_bad=False, total=None, side_files=True, attributes=None,
                   progress=True):
    """Per-frame backbone features of `videos` ((name, load_frames) pairs) in the original fc6 format, plus
    `videos` and `counts` datasets (a shard's videos; the side files are written for the whole by its index).

    Returns:
      dict with `videos`, `skipped`, `rows` (frames) and `files` (the side files written).
    """
    check_output_path(output)
    tmp = attempt_path(output)
    names, counts, skipped, rows = [], [], [], 0
    try:
        with h5py.File(tmp, "w") as f:
            data = f.create_dataset("hidden6", (0, backbone.dim), np.float32, maxshape=(None, backbone.dim),
                                    chunks=(16, backbone.dim))
            for name, block in _each_video(videos, lambda _, name, frames: backbone(frames), skip_bad, skipped,
                                           f"vidrep-preprocess features ({backbone.name})", total, progress):
                data.resize(rows + len(block), axis=0)
                data[rows:rows + len(block)] = block
                rows += len(block)
                names.append(name)
                counts.append(len(block))
            if not names:
                raise DataError("no video could be used" + (f" ({len(skipped)} skipped)" if skipped else ""))
            f.create_dataset("videos", data=np.array(names, dtype=h5py.string_dtype()))
            f.create_dataset("counts", data=np.array(counts, np.int64))
            f.attrs.update({"backbone": backbone.name, "dim": backbone.dim, "weights": backbone.identity,
                            "frame_resize": RESIZE,
                            **(attributes or {})})
        side = write_feature_side_files(output, names, counts) if side_files else {}
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"videos": len(names), "skipped": skipped, "rows": rows, "files": side}


def write_video_features(paths, output, backbone, every=1, attributes=None, progress=True):
    """Per-frame backbone features of video files, every `every`-th frame, appended to `output` (resumable).

    Writes HDF5 `features` (F, dim) float32, `video_index` (F,), `frame_number` (F,), `videos` (V,) (absolute
    paths) and `counts` (V,). A video already in `output` is skipped, so a re-run after an interruption (or with
    more videos) only does the rest; rows of a video that was cut off half-way are dropped first. A video that
    cannot be decoded is reported in one line on stderr and skipped; the others are still done.

    Returns:
      dict: `done` (videos written now), `already` (skipped as done before), `failed` (names), `rows` (total).
    """
    check_output_path(output)
    settings = {"backbone": backbone.name, "dim": backbone.dim, "every": int(every), "frame_resize": RESIZE,
                **(attributes or {})}
    if os.path.exists(output):  # only ever extend a features file of the same network and settings
        try:
            existing = h5py.File(output, "r")
        except OSError as e:
            raise DataError(f"`output` {output!r} exists and is not a readable HDF5 file ({str(e).splitlines()[0]}): "
                            f"choose another output file") from None
        with existing as f:
            if "features" not in f or "counts" not in f:
                raise DataError(f"`output` {output!r} is not a features file of vidrep-features (datasets: "
                                f"{', '.join(f) or 'none'}); it is left as it is: choose another output file")
            recorded = plain_attributes(f.attrs)
            for key, value in settings.items():
                theirs = recorded.get(key)
                if theirs != value:
                    raise DataError(f"`output` {output!r} holds features with {key}={theirs!r}, not {value!r}: "
                                    f"resume with the same settings, or choose another output file")
    with h5py.File(output, "a") as f:
        if "features" not in f:
            f.create_dataset("features", (0, backbone.dim), np.float32, maxshape=(None, backbone.dim),
                             chunks=(64, backbone.dim))
            for name in ("video_index", "frame_number", "counts"):
                f.create_dataset(name, (0,), np.int64, maxshape=(None,))
            f.create_dataset("videos", (0,), h5py.string_dtype(), maxshape=(None,))
            f.attrs.update(settings)
        done = {v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][...]}
        rows = int(f["counts"][...].sum())
        for name in ("features", "video_index", "frame_number"):  # drop a video cut off half-way
            f[name].resize(rows, axis=0)
        todo = [p for p in paths if os.path.abspath(p) not in done]
        failed = []
        loads = ((p, lambda p=p: video.read_video(p, every)) for p in todo)
        for path, block in _each_video(loads, lambda _, name, frames: backbone(frames), True, failed,
                                       f"vidrep-features ({backbone.name})", len(todo), progress):
            n, v = len(block), len(f["videos"])
            for name in ("features", "video_index", "frame_number"):
                f[name].resize(rows + n, axis=0)
            f["features"][rows:rows + n] = block
            f["video_index"][rows:rows + n] = v
            f["frame_number"][rows:rows + n] = np.arange(n) * every
            for name, value in (("videos", os.path.abspath(path)), ("counts", n)):
                f[name].resize(v + 1, axis=0)
                f[name][v] = value
            rows += n
            f.flush()
    return {"done": len(todo) - len(failed), "already": len(paths) - len(todo), "failed": failed, "rows": rows}
