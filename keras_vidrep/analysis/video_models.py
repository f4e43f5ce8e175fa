"""A trained model as vidrep-encode reads videos with it: the raw-video signatures of a run (`RunModel`, its model
restored and the signatures built as its export builds them, `export.all_endpoints`) or of its SavedModel
(`ExportModel`). Both answer `call(signature, **inputs)` with the same numbers, to float32 rounding: one set of
TensorFlow functions (`data.raw_frames`) prepares the video either way."""
import json
import os

import numpy as np
import tensorflow as tf

from keras_vidrep import trained
from keras_vidrep.data.video_input import VideoInput
from keras_vidrep.errors import ConfigError, VidrepError
from keras_vidrep.export import all_endpoints, video_backbone

# What vidrep-encode asks of a model, in order of preference: a classifier's probabilities of every clip, the codes
# of every clip, or the code of every frame (frame models: a clip's code is its last frame's).
CLASSIFY, ENCODE_CLIPS, ENCODE_FRAMES = "classify_video_frames", "encode_video_clips", "encode_video"
PREDICT = "predict_future_frames"


class RunModel:
    """The raw-video signatures of a run directory's model, called in this process."""

    def __init__(self, model_dir, checkpoint="", backbone_weights=""):
        model, task, self.source = trained.restore_model(model_dir, checkpoint)
        self.video_input, self.class_names = task.video_input(), task.class_names()
        if self.video_input is None:
            raise ConfigError(f"`model_dir` {model_dir!r} holds a {task.name} model of `data`="
                              f"{getattr(task.settings, 'data', '?')}, which reads no raw video (its data file names "
                              f"no backbone, or holds feature vectors of unknown origin)")
        backbone = video_backbone(task, backbone_weights)
        if self.video_input.backbone and backbone is None:
            raise ConfigError(f"`model_dir` {model_dir!r} reads {self.video_input.backbone} features of weights "
                              f"{self.video_input.backbone_weights}: give that weights file with --backbone_weights")
        self._endpoints = {e.name: e for e in all_endpoints(model, task, backbone)}
        self._functions = {}

    def has(self, name):
        return name in self._endpoints

    def call(self, name, **inputs):
        """{output: numpy array} of signature `name` on `inputs` (numpy), as a graph (`tf.function`)."""
        endpoint = self._endpoints[name]
        if name not in self._functions:
            self._functions[name] = tf.function(endpoint.fn, autograph=False, reduce_retracing=True)
        args = [tf.constant(inputs[key], dtype) for key, _, dtype, *_ in endpoint.inputs]
        return {key: value.numpy() for key, value in self._functions[name](*args).items()}


class ExportModel:
    """The raw-video signatures of a SavedModel (this package is not needed to compute them)."""

    def __init__(self, export_dir):
        if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
            raise ConfigError(f"`saved_model` {export_dir!r} is not a SavedModel directory")
        self.loaded, self.source = tf.saved_model.load(export_dir), export_dir
        if "describe" not in self.loaded.signatures:
            raise ConfigError(f"`saved_model` {export_dir!r} does not describe what it reads (no `describe` "
                              f"signature): export its run again with vidrep-export")
        described = json.loads(self.loaded.signatures["describe"]()["description"].numpy().decode())
        if not described["video_input"] or not any(map(self.has, (CLASSIFY, ENCODE_CLIPS, ENCODE_FRAMES))):
            backbone = described.get("backbone") or {}
            raise ConfigError(f"`saved_model` {export_dir!r} reads no raw video" + (
                f": it was exported without its backbone ({backbone.get('name')}, weights {backbone.get('weights')}); "
                f"export it with --with_backbone (and --backbone_weights)" if backbone else ""))
        if not (self.has(CLASSIFY) or self.has(ENCODE_CLIPS)) and \
                "mean" not in self.loaded.signatures[ENCODE_FRAMES].structured_outputs:
            raise ConfigError(f"`saved_model` {export_dir!r} was exported before `encode_video_clips` existed: export "
                              f"its run again with vidrep-export")
        self.video_input = VideoInput(**described["video_input"])
        self.class_names = described.get("class_names")

    def has(self, name):
        return name in self.loaded.signatures

    def call(self, name, **inputs):
        signature = self.loaded.signatures[name]
        specs = signature.structured_input_signature[1]
        return {key: value.numpy() for key, value in signature(
            **{key: tf.constant(value, specs[key].dtype) for key, value in inputs.items()}).items()}


def open_model(options):
    """The `RunModel` or `ExportModel` an `EncodeOptions` names."""
    if options.model_dir:
        return RunModel(options.model_dir, options.checkpoint, options.backbone_weights)
    return ExportModel(options.saved_model)


def clip_outputs(model, video, starts, stride, batch_size):
    """{name: (len(starts), ...)} of the clips of a raw video (T, H, W, C) that begin at kept frames `starts`
    (`stride` apart): `probabilities` (a classifier's) or `codes`. The video goes to the model in pieces of
    `batch_size` clips, each piece once (prepared frame by frame, so the pieces change nothing)."""
    skip, length = model.video_input.frame_skip, model.video_input.frames
    out = {}
    for k in range(0, len(starts), batch_size):
        chunk = starts[k:k + batch_size]
        piece = video[None, chunk[0] * skip:(chunk[-1] + length) * skip]
        if model.has(CLASSIFY):
            result = {"probabilities": model.call(CLASSIFY, video=piece, stride=stride)["clip_probabilities"][0]}
        elif model.has(ENCODE_CLIPS):
            result = {"codes": model.call(ENCODE_CLIPS, video=piece, stride=stride)["clip_representation"][0]}
        else:  # a frame model: each frame's code mean, the clip's last frame's
            means = model.call(ENCODE_FRAMES, video=piece)["mean"][0]
            result = {"codes": means[chunk - chunk[0] + length - 1]}
        for key, value in result.items():
            if len(value) != len(chunk):
                raise VidrepError(f"the model gave {len(value)} clips of a piece of {len(chunk)}")
            out.setdefault(key, []).append(np.asarray(value, np.float32))
    return {key: np.concatenate(parts) for key, parts in out.items()}


def check_continuation(model):
    """ConfigError unless `model` predicts frames (what `predict_frames` draws)."""
    if not model.has(PREDICT) or model.video_input.backbone:
        raise ConfigError("`predict_frames` continues a video with a composite model of frames (a future predictor "
                          "of frames or patches); this model has none")


def continuation(model, video, steps):
    """The model's free-running continuation of a raw video's first clip (steps, H, W[, C]) in [0, 1] — for a patch
    model, its patches' continuations put back in place."""
    check_continuation(model)
    clip = video[None, :model.video_input.frames * model.video_input.frame_skip]
    return model.call(PREDICT, video=clip, steps=np.int32(steps))["future"][0]
