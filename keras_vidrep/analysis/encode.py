"""vidrep-encode: codes of new videos, one per clip and one per video, from a trained run or its SavedModel.

Each video is decoded with OpenCV (`data.video.read_video`: uint8 RGB frames as they are) and cut into clips of the
model's input length every `stride` kept frames; a clip is prepared as the model reads frames
(`data.raw_frames.prepare`: frame skip, grey, centred square, resize) and encoded — by the restored model
(`--model_dir`) or by the export's `encode_video` signature, which does the same preparation inside its graph
(`--saved_model`); both give the same codes to float32 rounding. The code of a clip: a composite model's (its
encoder's final states, or the bottleneck), or for a frame VAE and a latent LSTM the VAE's code mean of the clip's
last frame (a frame VAE's clip is one frame).

Output `CODES.h5`: `codes` (clips, dim) float32, `video_index` (clips,), `frame_number` and `end_frame_number`
(clips,: the first and last frame of each clip, in the video's own numbering), `video_codes` (videos, dim: the mean of
a video's clip codes), `videos` (names); attributes name the model and the geometry read. With `predict_frames`,
`CODES_continuations/<video>.gif`: each video's first clip and true next frames beside the model's free-running
continuation (composite models with a future predictor). Written video by video
(memory holds one video) under a temporary name, renamed when complete; `CODES_projector/` beside it for
TensorBoard's Projector (each clip's video, first frame, label — the video's folder — and k-means cluster, its first
frame as thumbnail).
"""
import json
import os
import shutil

import h5py
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from keras_vidrep import pictures, trained
from keras_vidrep.analysis.embed import window_thumbnails, write_projector
from keras_vidrep.data import raw_frames
from keras_vidrep.data.checks import attempt_path, check_output_path
from keras_vidrep.data.video import find_videos, read_video
from keras_vidrep.data.video_input import VideoInput, check_video
from keras_vidrep.errors import ConfigError


class RunEncoder:
    """Codes of prepared clips by the model of a run directory (its task's default representation)."""

    def __init__(self, model_dir, checkpoint=""):
        self.model, self.task, self.source = trained.restore_model(model_dir, checkpoint)
        self.video_input = self.task.video_input()
        if self.video_input is None:
            raise ConfigError(f"`model_dir` {model_dir!r} holds a {self.task.name} model of `data`="
                              f"{getattr(self.task.settings, 'data', '?')}, which reads no raw video; vidrep-encode "
                              f"reads videos for models of Bouncing MNIST and of frames files")
        # The code an export's encode_video gives: the encoder's (composite), the VAE code of the clip's last frame
        self.representation = "code"

    def codes(self, video, starts, batch_size):
        """Codes (len(starts), dim) of the clips of a raw video (T, H, W, C) that begin at kept frames `starts`: the
        video is prepared once (preparation is frame by frame), then cut into clips."""
        prepared = np.asarray(raw_frames.prepare(video[None], self.video_input))[0]
        frames = self.video_input.frames
        return np.concatenate([np.asarray(self.task.represent(
            self.model, np.stack([prepared[s:s + frames] for s in starts[k:k + batch_size]]), self.representation),
            np.float32) for k in range(0, len(starts), batch_size)])

    def check_continuation(self):
        if self.task.name != "composite" or not self.model.predicts:
            raise ConfigError(f"`predict_frames` continues a video with a composite model's future predictor; "
                              f"`model_dir` holds a {self.task.name} model")

    def continuation(self, clip, steps):
        """The model's free-running continuation of one raw clip: (steps, *frame_shape)."""
        frames = np.asarray(raw_frames.prepare(clip[None], self.video_input))[:, :self.video_input.frames]
        future = np.asarray(self.model.predict_future(frames.reshape(1, len(frames[0]), -1), steps))
        return future.reshape(steps, *frames.shape[2:])


class ExportEncoder:
    """Codes of clips by a SavedModel's `encode_video` signature (the package is not needed to compute them)."""

    def __init__(self, export_dir):
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise ConfigError(f"`saved_model` {export_dir!r} is not a SavedModel directory")
        self.loaded, self.source = tf.saved_model.load(export_dir), export_dir
        if "encode_video" not in self.loaded.signatures:
            raise ConfigError(f"`saved_model` {export_dir!r} has no `encode_video` signature (it has "
                              f"{', '.join(sorted(self.loaded.signatures))}); export its run again with vidrep-export")
        described = json.loads(self.loaded.signatures["describe"]()["description"].numpy().decode())
        self.video_input = VideoInput(**described["video_input"])

    def check_continuation(self):
        if "predict_future_frames" not in self.loaded.signatures:
            raise ConfigError(f"`predict_frames` needs a `predict_future_frames` signature; `saved_model` "
                              f"{self.source!r} has none")

    def continuation(self, clip, steps):
        return self.loaded.signatures["predict_future_frames"](video=tf.constant(clip[None]),
                                                               steps=tf.constant(steps))["future"].numpy()[0]

    def codes(self, video, starts, batch_size):
        """Codes of the clips of a raw video that begin at kept frames `starts`, each clip given to the export raw."""
        skip, frames = self.video_input.frame_skip, self.video_input.frames
        out = []
        for k in range(0, len(starts), batch_size):
            clips = np.stack([video[s * skip:(s + frames) * skip] for s in starts[k:k + batch_size]])
            result = self.loaded.signatures["encode_video"](video=tf.constant(clips))
            # a composite model's code of the clip, or a frame VAE's code means of every frame: the last one's
            out.append(result["representation"].numpy() if "representation" in result else
                       result["mean"].numpy()[:, -1])
        return np.concatenate(out)


def continuation_gif(encoder, video, video_input, steps, path, folder):
    """`<folder>/<video name>.gif`: the video's first clip and its true next frames (left) beside the model's
    free-running continuation of the clip (right), frame by frame, as prepared for the model."""
    skip, frames = video_input.frame_skip, video_input.frames
    prepared = np.asarray(raw_frames.prepare(video[None, :(frames + steps) * skip], video_input))[0]
    prediction = encoder.continuation(video[:frames * skip], steps)
    animation = pictures.side_by_side_frames(prepared[:frames], prepared[frames:frames + steps], None, prediction)
    name = os.path.splitext(os.path.basename(path))[0]
    os.makedirs(folder, exist_ok=True)
    return pictures.save_gif(animation, os.path.join(folder, f"{name}.gif"))


def clip_starts(kept, video_input, stride):
    """First kept frame of every clip of a video of `kept` kept frames, every `stride` kept frames."""
    return np.arange(0, kept - video_input.frames + 1, stride)


def encode(options, log=print):
    """Encodes the videos `options` (an `EncodeOptions`) name and writes its output; returns what was written."""
    options.validate()
    check_output_path(options.output)
    paths = find_videos(options.videos)
    encoder = RunEncoder(options.model_dir, options.checkpoint) if options.model_dir else \
        ExportEncoder(options.saved_model)
    video_input, skip = encoder.video_input, encoder.video_input.frame_skip
    pictures_dir = os.path.splitext(options.output)[0] + "_continuations"
    if options.predict_frames:
        encoder.check_continuation()
    # A video that cannot be read stops the command: what it wrote (under these names) goes, nothing else is touched.
    tmp, tmp_pictures = attempt_path(options.output), attempt_path(pictures_dir)
    clips_written, dim = 0, None
    try:
        with h5py.File(tmp, "w") as f:
            for v, path in enumerate(tqdm(paths, desc="vidrep-encode", unit="video", dynamic_ncols=True)):
                video = read_video(path)
                check_video(video.shape, video_input, path)
                starts = clip_starts(-(-len(video) // skip), video_input, options.stride)
                codes = encoder.codes(video, starts, options.batch_size)
                if dim is None:
                    dim = codes.shape[1]
                    for name, shape, dtype in (("codes", (0, dim), "f4"), ("video_index", (0,), "i8"),
                                               ("frame_number", (0,), "i8"), ("end_frame_number", (0,), "i8"),
                                               ("video_codes", (0, dim), "f4")):
                        f.create_dataset(name, shape, dtype, maxshape=(None, *shape[1:]), chunks=True)
                n = len(codes)
                for name, values in (("codes", codes), ("video_index", np.full(n, v)),
                                     ("frame_number", starts * skip),
                                     ("end_frame_number", (starts + video_input.frames - 1) * skip)):
                    f[name].resize(clips_written + n, axis=0)
                    f[name][clips_written:] = values
                f["video_codes"].resize(v + 1, axis=0)
                f["video_codes"][v] = codes.mean(axis=0)
                clips_written += n
                if options.predict_frames:
                    continuation_gif(encoder, video, video_input, options.predict_frames, path, tmp_pictures)
            f.create_dataset("videos", data=np.array(paths, dtype=h5py.string_dtype()))
            f.attrs.update({"source": os.path.abspath(encoder.source), "stride": options.stride,
                            "video_input": video_input.to_json()})
        os.replace(tmp, options.output)
        if options.predict_frames:  # the pictures of this run replace those of an earlier one
            shutil.rmtree(pictures_dir, ignore_errors=True)
            os.replace(tmp_pictures, pictures_dir)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        shutil.rmtree(tmp_pictures, ignore_errors=True)
    written = [options.output] + ([pictures_dir] if options.predict_frames else [])
    if options.projector_points:
        written.append(write_projector(
            options.output, "codes", clips_written, paths,
            lambda rows, video_index, numbers: window_thumbnails(paths, video_index, numbers),
            options.projector_points, options.clusters))
    log(f"encoded {clips_written} clips of {len(paths)} videos (code size {dim}); wrote {', '.join(written)}")
    return {"clips": clips_written, "videos": len(paths), "code_size": dim, "files": written}
