"""vidrep-encode: what a trained model says of new videos — codes, or a classifier's class probabilities — one per
clip and one per video, from a run or its SavedModel; and, with `data_file`, the codes of a package data file
(`analysis.embed`, also called as vidrep-embed).

Each video is decoded with OpenCV (`data.video.read_video`: uint8 RGB frames as they are) and cut into clips of the
model's input length every `stride` kept frames; clips are prepared as the model reads frames (`data.raw_frames`:
frame skip, grey, centred square or patch grid, resize, a feature model's backbone) and given to the model's
raw-video signatures — those of the restored run (`--model_dir`) or of its export (`--saved_model`), the same
TensorFlow functions either way (`analysis.video_models`), so both give the same numbers to float32 rounding. The code
of a clip: a composite model's (its encoder's final states, or the bottleneck; a patch model's is the mean over the
patches of its grid), or a frame VAE's and a latent LSTM's code mean of the clip's last frame.

Output `CODES.h5`: `codes` (clips, dim) float32 — for a classifier `probabilities` (clips, classes) instead, with
`class_names` —, `video_index` (clips,), `frame_number` and `end_frame_number` (clips,: the first and last frame of each
clip, in the video's own numbering), `video_codes` (videos, dim: the mean of a video's clip codes; a classifier's
`video_probabilities`), `videos` (names; with `skip_bad_videos`, the videos the model could not read are left out,
warned about and named in `skipped_videos`); attributes name the model and the geometry read. A classifier's top
`top_k` classes by name also go to `CODES_videos.csv` (one row a video) and `CODES_clips.csv` (one row a clip). With
`predict_frames`, `CODES_continuations/<video>.gif` and `.mp4` (`picture_names`): each video's first clip and
true next frames beside the model's free-running continuation. Written video by video (memory holds one video)
into `CODES.h5.partial` (`open_partial`), renamed when complete: a run that stops keeps the videos it finished, and
the same command goes on after them; `CODES_projector/` beside it for TensorBoard's Projector (each clip's
video, first frame, label — the video's folder — and k-means cluster, its first frame as thumbnail).
"""
import csv
import json
import os
import shutil
import sys

import h5py
import numpy as np
from tqdm import tqdm

from keras_vidrep import pictures
from keras_vidrep.analysis import video_models
from keras_vidrep.analysis.embed import embed, window_thumbnails, write_projector
from keras_vidrep.data import raw_frames
from keras_vidrep.data.checks import attempt_path, check_output_path
from keras_vidrep.data.video import find_videos, read_video
from keras_vidrep.data.video_input import check_video, is_grey
from keras_vidrep.errors import DataError

PARTIAL = ".partial"  # OUTPUT.partial (and CODES_continuations.partial/): the videos done by a run not yet finished


def picture_names(paths):
    """A file name for each video's pictures: its own name without extension; where two videos share it (clip.mp4
    in two class folders), its folder's name before it (`walk-clip`), and if that is shared too, its number."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    named = [s if stems.count(s) == 1 else f"{os.path.basename(os.path.dirname(p))}-{s}" for p, s in zip(paths, stems)]
    return [n if named.count(n) == 1 else f"{n}-{v}" for v, n in enumerate(named)]


def continuation_pictures(model, video, steps, name, folder):
    """`<folder>/<name>.gif` and `.mp4`: the video's first clip and its true next frames (left) beside the model's
    free-running continuation of the clip (right), frame by frame, as prepared for the model."""
    video_input = model.video_input
    skip, frames = video_input.frame_skip, video_input.frames
    prediction = video_models.continuation(model, video, steps)
    truth = np.asarray(raw_frames.prepare(video[None, :(frames + steps) * skip], video_input))[0]
    truth = truth[:, :prediction.shape[1], :prediction.shape[2]]  # a patch grid leaves the frames' edges out
    animation = pictures.side_by_side_frames(truth[:frames], truth[frames:frames + steps], None, prediction)
    os.makedirs(folder, exist_ok=True)
    return (pictures.save_gif(animation, os.path.join(folder, f"{name}.gif")),
            pictures.save_mp4(animation, os.path.join(folder, f"{name}.mp4")))


def clip_starts(kept, video_input, stride):
    """First kept frame of every clip of a video of `kept` kept frames, every `stride` kept frames."""
    return np.arange(0, kept - video_input.frames + 1, stride)


def top_classes(probabilities, names, k):
    """The `k` most probable classes of each row: [[name, probability] * k] (rounded to 4 places)."""
    order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
    return [[value for j in row for value in (names[j], round(float(p[j]), 4))] for p, row in zip(probabilities,
                                                                                                   order)]


def write_class_tables(output, paths, names, k):
    """CODES_videos.csv and CODES_clips.csv beside the finished `output`: each video's and each clip's top-k classes
    by name. Returns their paths."""
    stem, k = os.path.splitext(output)[0], min(k, len(names))
    header = [column for j in range(1, k + 1) for column in (f"class_{j}", f"probability_{j}")]
    with h5py.File(output, "r") as f:
        tables = {f"{stem}_videos.csv": (["video", *header], [[path] for path in paths],
                                         top_classes(f["video_probabilities"][...], names, k)),
                  f"{stem}_clips.csv": (["video", "first_frame", "last_frame", *header],
                                        [[paths[v], int(a), int(b)] for v, a, b in zip(
                                            f["video_index"][...], f["frame_number"][...],
                                            f["end_frame_number"][...])],
                                        top_classes(f["probabilities"][...], names, k))}
    for path, (columns, keys, tops) in tables.items():
        tmp = attempt_path(path)
        with open(tmp, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(columns)
            writer.writerows(key + top for key, top in zip(keys, tops))
        os.replace(tmp, path)
    return list(tables)


def _append(f, video, results, starts, video_input, clips_written):
    """Appends one video's clips (`results`: {name: (clips, ...)}) and its mean to the open file `f`."""
    skip, n = video_input.frame_skip, len(starts)
    for name, values in results.items():
        if name not in f:
            f.create_dataset(name, (0, *values.shape[1:]), "f4", maxshape=(None, *values.shape[1:]), chunks=True)
            f.create_dataset(f"video_{name}", (0, *values.shape[1:]), "f4", maxshape=(None, *values.shape[1:]))
    for name in ("video_index", "frame_number", "end_frame_number"):
        if name not in f:
            f.create_dataset(name, (0,), "i8", maxshape=(None,), chunks=True)
    columns = {**results, "video_index": np.full(n, video), "frame_number": starts * skip,
               "end_frame_number": (starts + video_input.frames - 1) * skip}
    for name, values in columns.items():
        f[name].resize(clips_written + n, axis=0)
        f[name][clips_written:] = values
    for name, values in results.items():
        f[f"video_{name}"].resize(video + 1, axis=0)
        f[f"video_{name}"][video] = values.mean(axis=0)


def encode(options, log=print):
    """Runs what `options` (an `EncodeOptions`) asks — videos or a data file — and returns what was written."""
    options.validate()
    if options.data_file:
        return embed_file(options, log)
    check_output_path(options.output)
    paths = find_videos(options.videos)
    model = video_models.open_model(options)
    video_input, skip = model.video_input, model.video_input.frame_skip
    pictures_dir = os.path.splitext(options.output)[0] + "_continuations"
    if options.predict_frames:
        video_models.check_continuation(model)
    # Written video by video into OUTPUT.partial, renamed when complete. A run that stops (a video it cannot read,
    # Ctrl-C, a kill) keeps the videos it finished there, and the same command goes on after them.
    partial, partial_pictures = f"{options.output}{PARTIAL}", f"{pictures_dir}{PARTIAL}"
    settings = json.dumps({"source": os.path.abspath(model.source), "stride": options.stride,
                           "video_input": video_input.to_json(), "predict_frames": options.predict_frames},
                          sort_keys=True)
    f, kept, skipped = open_partial(partial, partial_pictures, settings, paths, log)
    names, tables, done = picture_names(paths), [], len(kept) + len(skipped)
    clips_written = len(f["video_index"]) if "video_index" in f else 0
    try:
        with tqdm(total=len(paths), initial=done, desc="vidrep-encode", unit="video", dynamic_ncols=True) as bar:
            for path, name in zip(paths[done:], names[done:]):
                try:
                    video = readable_video(path, video_input, options.grey_as_rgb)
                except DataError as e:
                    if not options.skip_bad_videos:
                        raise
                    bar.write(f"vidrep-encode: skipped {e}", file=sys.stderr)
                    _append_name(f, "skipped_videos", path, skipped)
                    bar.update()
                    continue
                starts = clip_starts(-(-len(video) // skip), video_input, options.stride)
                results = video_models.clip_outputs(model, video, starts, options.stride, options.batch_size)
                _append(f, len(kept), results, starts, video_input, clips_written)
                if options.predict_frames:
                    continuation_pictures(model, video, options.predict_frames, name, partial_pictures)
                _append_name(f, "videos", path, kept)  # the video counts as done once its name is written
                clips_written += len(starts)
                bar.update()
        if not kept:
            raise DataError(f"no video could be read by the model ({len(skipped)} skipped)")
        if model.class_names is not None and "probabilities" in f:
            f.create_dataset("class_names", data=np.array(model.class_names, dtype=h5py.string_dtype()))
        f.attrs.update({"source": os.path.abspath(model.source), "stride": options.stride,
                        "video_input": video_input.to_json()})
        main = "probabilities" if "probabilities" in f else "codes"
        dim = f[main].shape[1]
    except BaseException:
        f.close()
        if kept or skipped:
            print(f"vidrep-encode: the {len(kept) + len(skipped)} videos done of {len(paths)} are kept in {partial}; "
                  f"the same command goes on after them", file=sys.stderr)
        else:
            os.remove(partial)
            shutil.rmtree(partial_pictures, ignore_errors=True)
        raise
    f.close()
    os.replace(partial, options.output)
    if main == "probabilities" and model.class_names is not None:
        tables = write_class_tables(options.output, kept, model.class_names, options.top_k)
    if options.predict_frames:  # the pictures of this run replace those of an earlier one
        shutil.rmtree(pictures_dir, ignore_errors=True)
        os.replace(partial_pictures, pictures_dir)
    written = [options.output, *tables] + ([pictures_dir] if options.predict_frames else [])
    if options.projector_points:
        written.append(write_projector(
            options.output, main, clips_written, kept,
            lambda rows, video_index, numbers: window_thumbnails(kept, video_index, numbers),
            options.projector_points, options.clusters))
    what = f"{dim} classes" if main == "probabilities" else f"code size {dim}"
    also = f", skipped {len(skipped)} (named in `skipped_videos`)" if skipped else ""
    log(f"encoded {clips_written} clips of {len(kept)} videos ({what}){also}; wrote {', '.join(written)}")
    return {"clips": clips_written, "videos": len(kept), "skipped": skipped, "code_size": dim, "files": written}


def open_partial(partial, partial_pictures, settings, paths, log=print):
    """The in-progress file `partial` opened for appending, with the videos it holds as done (`videos`) and skipped
    (`skipped_videos`): those of an earlier run of the same `settings` whose done and skipped videos are, in order,
    the first of `paths` — the rows of a video whose name was never written are dropped —, else a new file. Returns
    (the open h5py.File, done paths, skipped paths)."""
    if os.path.exists(partial):
        try:
            f = h5py.File(partial, "r+")
        except OSError as e:
            if "lock" in str(e):
                raise DataError(f"{partial} is being written by another process (an HDF5 lock holds it); wait for "
                                f"it to end, or give another `output`") from None
            f = None
        if f is not None:
            kept = [v.decode() for v in f["videos"][...]] if "videos" in f else []
            skipped = [v.decode() for v in f["skipped_videos"][...]] if "skipped_videos" in f else []
            done = len(kept) + len(skipped)
            if f.attrs.get("encode_settings") == settings and sorted(kept + skipped) == sorted(paths[:done]):
                rows = int(np.searchsorted(f["video_index"][...], len(kept))) if "video_index" in f else 0
                for name in set(f) - {"videos", "skipped_videos"}:  # a row per clip, or per video (video_*)
                    f[name].resize(len(kept) if name.startswith("video_") and name[6:] in f else rows, axis=0)
                log(f"vidrep-encode: going on after the {done} videos done in {partial}")
                return f, kept, skipped
            f.close()
        log(f"vidrep-encode: {partial} is of other settings or videos, or unreadable; starting over")
        shutil.rmtree(partial_pictures, ignore_errors=True)
    f = h5py.File(partial, "w")
    f.attrs["encode_settings"] = settings
    return f, [], []


def _append_name(f, dataset, path, names):
    """Appends `path` to the string dataset `dataset` of `f` (made if missing) and to `names`; flushes the file."""
    if dataset not in f:
        f.create_dataset(dataset, (0,), h5py.string_dtype(), maxshape=(None,), chunks=True)
    f[dataset].resize(len(names) + 1, axis=0)
    f[dataset][len(names)] = path
    names.append(path)
    f.flush()


def readable_video(path, video_input, grey_as_rgb=False):
    """The frames of the video file `path` (`read_video`); DataError if OpenCV cannot decode it or the model of
    `video_input` cannot read it (too short, too small, grey for an RGB model unless `grey_as_rgb`)."""
    video = read_video(path)
    check_video(video.shape, video_input, path)
    if video_input.channels == 3 and not grey_as_rgb and is_grey(video):
        raise DataError(f"{path} is grey (its three channels are equal), but the model reads RGB frames: give "
                        f"--grey_as_rgb to read it all the same")
    return video


def embed_file(options, log=print):
    """`data_file`: the codes of every frame of a frames file, or of every window of a features file, by a run
    (`analysis.embed`)."""
    o = options
    result = embed(o.model_dir, o.data_file, o.output, o.checkpoint, o.batch_size, o.log_variances,
                   o.reconstructions, o.seed, o.stride, o.projector_points, o.clusters)
    what = (f"{result['frames']} frames (z={result['latent_dim']})" if "frames" in result else
            f"{result['windows']} windows (code size {result['code_size']})")
    log(f"embedded {what}; wrote {', '.join(result['files'])}")
    return result
