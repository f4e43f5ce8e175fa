"""SavedModel export with named signatures that any TensorFlow program loads with `tf.saved_model.load`.

The signatures come from the task (`Task.export_endpoints`); the first is also `serving_default`. The batch
dimension is dynamic and every output is named. The run's config.json is stored beside the SavedModel, with the
absolute path of the model directory it came from.

The export is written to a temporary directory beside the target and renamed into place, so an interrupted export
never leaves a broken SavedModel where a good one was. A target that holds anything but an export of the same run
(same model directory and architecture) is refused.
"""
import dataclasses
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import logging

from keras_vidrep import trained
from keras_vidrep.config import Config
from keras_vidrep.data import raw_frames
from keras_vidrep.data.backbone import backbone_for
from keras_vidrep.data.backbone import describe as backbone_words
from keras_vidrep.errors import ConfigError, VidrepError, write_failure
from keras_vidrep.runs.directory import CONFIG_FILE
from keras_vidrep.tasks.base import Endpoint


def build_archive(model, task, backbone=None):
    """A keras.export.ExportArchive of a built model with the task's named endpoints (and the raw-video ones, through
    `backbone` for a model of CNN features).

    An endpoint input with a default (a 4th element) is optional when the loaded object's function is called
    (`loaded.predict_future(frames)`); the serving signature of the same name takes every input. The loaded
    functions of raw video also take float32 video in [0, 1] (`loaded.encode_video(video)`); their signatures take
    uint8."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    if backbone is not None:
        archive.track(backbone.model)
    for endpoint in all_endpoints(model, task, backbone):
        spec = [tf.TensorSpec(shape, dtype, name=name) for name, shape, dtype, *_ in endpoint.inputs]
        required = sum(1 for entry in endpoint.inputs if len(entry) < 4)
        variants = [spec]
        if endpoint.inputs and endpoint.inputs[0] == VIDEO:
            variants.append([tf.TensorSpec(VIDEO[1], tf.float32, name="video"), *spec[1:]])
        if required == len(spec) and len(variants) == 1:
            archive.add_endpoint(endpoint.name, endpoint.fn, input_signature=spec)
            continue
        function = tf.function(_with_defaults(endpoint), autograph=False)
        for variant in variants:  # the first traced is the serving signature (every input, uint8 video)
            function.get_concrete_function(*variant)
            if required < len(spec):
                function.get_concrete_function(*variant[:required])
        archive.add_endpoint(endpoint.name, function)
    return archive


def all_endpoints(model, task, backbone=None):
    """The task's endpoints, those of raw video (`video_endpoints`), all with their class names, and `describe`."""
    endpoints = task.export_endpoints(model)
    endpoints = [_with_class_names(e) for e in endpoints + video_endpoints(endpoints, task.video_input(), backbone)]
    return endpoints + [describe_endpoint(task, endpoints, backbone is not None)]


# The signatures of raw decoded video added beside those of the frames a model reads (see data/raw_frames.py): on
# the video's first clip (or every frame of a frame model), and on every clip at a stride.
VIDEO_SIGNATURES = {"encode": "encode_video", "reconstruct": "reconstruct_video",
                    "predict_future": "predict_future_frames", "rollout": "rollout_video"}
CLIP_SIGNATURES = {"encode": "encode_video_clips", "classify": "classify_video_frames"}
VIDEO = ("video", (None, None, None, None, None), "uint8")


def video_endpoints(endpoints, video_input, backbone=None):
    """The endpoints of raw video, each reading `video` (batch, time, height, width, channels) uint8 as decoded —
    any size, RGB or grey — and preparing it in the graph (`raw_frames`):

      * for each endpoint of `VIDEO_SIGNATURES`: one of clips (batch, frames, *frame) is called on the video's first
        clip; one of single frames (batch, *frame) on every prepared frame, its outputs then (batch, time, ...);
      * for each of `CLIP_SIGNATURES`: every clip `stride` kept frames apart (int32, default 1), its vector outputs
        per clip (`clip_<name>`) and averaged over the clips (`video_<name>`), class names included.

    None for a model without a `VideoInput`, or of CNN features without its `backbone` (its export then names the
    backbone it expects: `describe`)."""
    if video_input is None or (video_input.backbone and backbone is None):
        return []
    features = backbone.graph_features if backbone is not None else None
    frame_rank = 2 if video_input.channels == 1 and video_input.crop != "patch_grid" else 3
    out = []
    for endpoint in endpoints:
        per_frame = not video_input.backbone and len(endpoint.inputs[0][1]) == 1 + frame_rank
        if endpoint.name in VIDEO_SIGNATURES:
            fn = raw_frames.on_frames(endpoint.fn, video_input) if per_frame else \
                raw_frames.on_first_clip(endpoint.fn, video_input, features)
            out.append(dataclasses.replace(endpoint, name=VIDEO_SIGNATURES[endpoint.name], fn=fn,
                                           inputs=[VIDEO, *endpoint.inputs[1:]]))
        if endpoint.name in CLIP_SIGNATURES and not per_frame:
            classes = {f"{level}_{key}": (f"{level}_{source}", names)
                       for key, (source, names) in endpoint.classes.items() for level in ("clip", "video")}
            out.append(Endpoint(CLIP_SIGNATURES[endpoint.name],
                                raw_frames.on_all_clips(endpoint.fn, video_input, features),
                                [VIDEO, ("stride", (), "int32", 1)], classes))
    return out


def describe(task, endpoints, backbone_in_graph=False):
    """What the export holds and reads, as a JSON text (the `describe` signature and assets/export.json)."""
    video_input = task.video_input()
    return json.dumps({
        "task": task.config.task,
        "signatures": {e.name: {name: {"shape": list(shape), "dtype": dtype} for name, shape, dtype, *_ in e.inputs}
                       for e in endpoints},
        "video_input": None if video_input is None else json.loads(video_input.to_json()),
        "backbone": None if video_input is None or not video_input.backbone else {
            **backbone_words(video_input.backbone, video_input.backbone_weights), "in_graph": backbone_in_graph},
        "class_names": task.class_names(),
        "input_statistics": "assets/input_statistics.json" if task.input_statistics() is not None else None,
    }, sort_keys=True)


def describe_endpoint(task, endpoints, backbone_in_graph=False):
    """The `describe` signature: no inputs; `description`, the JSON text of `describe`."""
    text = describe(task, endpoints, backbone_in_graph)
    return Endpoint("describe", lambda: {"description": tf.constant(text)}, [])


def video_backbone(task, weights_file="", include=True):
    """The backbone a model of CNN features reads video through (`data.backbone.backbone_for`), for its export
    and vidrep-encode; None for another model, when not `include`d, or — with a warning — when its weights cannot
    be had (unless `weights_file` was given: then the error)."""
    video_input = task.video_input()
    if video_input is None or not video_input.backbone or not include:
        return None
    try:
        return backbone_for(video_input.backbone, video_input.backbone_weights, weights_file)
    except ConfigError as e:
        if weights_file:
            raise
        logging.warning("%s; the export gets no raw-video signatures (its `describe` names the backbone)", e)
        return None


def _with_class_names(endpoint):
    """The endpoint with, for each of its `classes`, the most probable class and its name added to the outputs."""
    if not endpoint.classes:
        return endpoint
    names = {key: tf.constant(list(class_names)) for key, (_, class_names) in endpoint.classes.items()}

    def fn(*args, **named):
        out = dict(endpoint.fn(*args, **named))
        for key, (source, _) in endpoint.classes.items():
            index = tf.argmax(out[source], axis=-1)
            out[key], out[f"{key}_name"] = index, tf.gather(names[key], index)
        return out

    return dataclasses.replace(endpoint, fn=fn, classes={})


def _with_defaults(endpoint):
    """`endpoint.fn` called with positional inputs, the defaults filling in those left out."""
    names = [name for name, *_ in endpoint.inputs]
    defaults = {name: rest[0] for name, _, _, *rest in endpoint.inputs if rest}

    def call(*args):
        return endpoint.fn(**{**defaults, **dict(zip(names, args))})
    return call


def export_saved_model(model, task, export_dir, backbone_weights="", with_backbone=True):
    """Writes the SavedModel (plus the run's config.json) atomically to `export_dir`; returns the path.

    A model of CNN features gets its backbone in the graph, so that its raw-video signatures read video (unless
    `with_backbone` is False: a VGG16 fc6 backbone is 117.5 M parameters, ~470 MB in every export);
    `backbone_weights` is the weights file the features were computed with, when they were not ImageNet's or
    random."""
    config = task.config
    export_dir = os.path.abspath(export_dir)
    check_export_target(export_dir, config)
    parent = os.path.dirname(export_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=os.path.basename(export_dir) + ".tmp-", dir=parent)
    except OSError as e:
        raise ConfigError(f"`export_dir` {export_dir!r} is not writable ({e.strerror})") from None
    try:
        try:
            backbone = video_backbone(task, backbone_weights, with_backbone)
            with task.building_export():  # no custom gradient functions to trace and save: a third faster
                build_archive(model, task, backbone).write_out(tmp, verbose=False)
            config.save(tmp, model_dir=os.path.abspath(config.model_dir))
            names, statistics = task.class_names(), task.input_statistics()
            os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
            if names is not None:  # readable beside the signatures that return them
                config.run_dir.write_class_names(names, os.path.join(tmp, "assets"))
            if statistics is not None:  # what the signatures standardize with, readable
                config.run_dir.write_statistics(statistics, os.path.join(tmp, "assets"))
            with open(os.path.join(tmp, "assets", "export.json"), "w", encoding="utf-8") as f:
                f.write(describe(task, all_endpoints(model, task, backbone)[:-1], backbone is not None))
        except (OSError, tf.errors.OpError) as e:
            raise VidrepError(f"{write_failure(export_dir, e)}; the checkpoints are intact: free space and run "
                              f"vidrep-export --model_dir={config.model_dir}") from None
        old = None
        if os.path.exists(export_dir):
            old = tempfile.mkdtemp(prefix=os.path.basename(export_dir) + ".old-", dir=parent)
            os.rename(export_dir, os.path.join(old, "previous"))
        os.rename(tmp, export_dir)
        if old:
            shutil.rmtree(old)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    logging.info("exported SavedModel to %s", export_dir)
    return export_dir


def check_export_target(export_dir, config):
    """Refuses a target that is not a directory, holds other files, or holds the export of another run (another
    model directory) or of another architecture."""
    if not os.path.exists(export_dir):
        return
    if not os.path.isdir(export_dir):
        raise ConfigError(f"`export_dir` {export_dir!r} exists and is not a directory")
    if not os.listdir(export_dir):
        return
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ConfigError(f"`export_dir` {export_dir!r} holds other files, not a SavedModel; refusing to replace it")
    if not os.path.isfile(os.path.join(export_dir, CONFIG_FILE)):
        raise ConfigError(f"`export_dir` {export_dir!r} holds a SavedModel of unknown origin; refusing to replace it")
    previous = Config.load(export_dir)
    changed = previous.architecture_changes(config)
    if changed:
        raise ConfigError(f"`export_dir` {export_dir!r} holds a different model ({', '.join(changed)}); choose "
                          f"another `export_dir` or remove it")
    theirs, ours = os.path.realpath(previous.model_dir), os.path.realpath(config.model_dir)
    if theirs != ours:
        raise ConfigError(f"`export_dir` {export_dir!r} holds the export of the run in {previous.model_dir!r}, not "
                          f"of this run ({ours!r}); choose another `export_dir` or remove it")


def export_checkpoint(model_dir, export_dir="", checkpoint="", backbone_weights="", with_backbone=True):
    """Rebuilds the model of `model_dir` from its config.json, restores a checkpoint (the latest by default) and
    exports it (see `export_saved_model` for the backbone). Returns the export path."""
    model, task, _ = trained.restore_model(model_dir, checkpoint)
    return export_saved_model(model, task, export_dir or task.config.resolved_export_dir, backbone_weights,
                              with_backbone)
