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
from keras_vidrep.errors import ConfigError, VidrepError, write_failure
from keras_vidrep.runs.directory import CONFIG_FILE
from keras_vidrep.tasks.base import Endpoint


def build_archive(model, task):
    """A keras.export.ExportArchive of a built model with the task's named endpoints.

    An endpoint input with a default (a 4th element) is optional when the loaded object's function is called
    (`loaded.predict_future(frames)`); the serving signature of the same name takes every input."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    for endpoint in all_endpoints(model, task):
        spec = [tf.TensorSpec(shape, dtype, name=name) for name, shape, dtype, *_ in endpoint.inputs]
        required = sum(1 for entry in endpoint.inputs if len(entry) < 4)
        if required == len(spec):
            archive.add_endpoint(endpoint.name, endpoint.fn, input_signature=spec)
            continue
        function = tf.function(_with_defaults(endpoint), autograph=False)
        function.get_concrete_function(*spec)  # traced first: the serving signature (every input)
        function.get_concrete_function(*spec[:required])
        archive.add_endpoint(endpoint.name, function)
    return archive


def all_endpoints(model, task):
    """The task's endpoints (with their class names), those of raw video, and `describe` last."""
    endpoints = [_with_class_names(endpoint) for endpoint in task.export_endpoints(model)]
    endpoints += video_endpoints(endpoints, task.video_input())
    return endpoints + [describe_endpoint(task, endpoints)]


# The signatures of raw decoded video added beside those of the frames a model reads (see data/raw_frames.py).
VIDEO_SIGNATURES = {"encode": "encode_video", "reconstruct": "reconstruct_video",
                    "predict_future": "predict_future_frames", "rollout": "rollout_video"}


def video_endpoints(endpoints, video_input):
    """For each endpoint of `VIDEO_SIGNATURES`, one that reads `video` (batch, time, height, width, channels) uint8
    as decoded — any size, RGB or grey — and prepares it in the graph (`raw_frames.prepare`): an endpoint of clips
    (batch, frames, *frame) is called on the video's first clip, one of single frames (batch, *frame) on every
    prepared frame, its outputs then (batch, time, ...). None for a model without a `VideoInput`."""
    if video_input is None:
        return []
    frame_rank = 2 if video_input.channels == 1 else 3
    out = []
    for endpoint in endpoints:
        if endpoint.name not in VIDEO_SIGNATURES:
            continue
        per_frame = len(endpoint.inputs[0][1]) == 1 + frame_rank
        video = ("video", (None, None, None, None, None), "uint8")
        fn = _on_frames(endpoint.fn, video_input) if per_frame else _on_clip(endpoint.fn, video_input)
        out.append(dataclasses.replace(endpoint, name=VIDEO_SIGNATURES[endpoint.name], fn=fn,
                                       inputs=[video, *endpoint.inputs[1:]]))
    return out


def _on_clip(fn, video_input):
    """`fn` of clips → the same of raw video, on its first clip."""
    def on_video(video, *rest, **named):
        return fn(raw_frames.prepare(video, video_input)[:, :video_input.frames], *rest, **named)
    return on_video


def _on_frames(fn, video_input):
    """`fn` of single frames → the same of raw video, on every prepared frame: outputs (batch, time, ...)."""
    def on_video(video, *rest, **named):
        frames = raw_frames.prepare(video, video_input)
        shape = tf.shape(frames)
        out = fn(tf.reshape(frames, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)), *rest, **named)
        return {key: tf.reshape(value, tf.concat([shape[:2], tf.shape(value)[1:]], 0)) for key, value in out.items()}
    return on_video


def describe(task, endpoints):
    """What the export holds and reads, as a JSON text (the `describe` signature and assets/export.json)."""
    video_input = task.video_input()
    return json.dumps({
        "task": task.config.task,
        "signatures": {e.name: {name: {"shape": list(shape), "dtype": dtype} for name, shape, dtype, *_ in e.inputs}
                       for e in endpoints},
        "video_input": None if video_input is None else json.loads(video_input.to_json()),
        "class_names": task.class_names(),
        "input_statistics": "assets/input_statistics.json" if task.input_statistics() is not None else None,
    }, sort_keys=True)


def describe_endpoint(task, endpoints):
    """The `describe` signature: no inputs; `description`, the JSON text of `describe`."""
    text = describe(task, endpoints)
    return Endpoint("describe", lambda: {"description": tf.constant(text)}, [])


def _with_class_names(endpoint):
    """The endpoint with, for each of its `classes`, the most probable class and its name added to the outputs."""
    if not endpoint.classes:
        return endpoint
    names = {key: tf.constant(list(class_names)) for key, (_, class_names) in endpoint.classes.items()}

    def fn(*args):
        out = dict(endpoint.fn(*args))
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


def export_saved_model(model, task, export_dir):
    """Writes the SavedModel (plus the run's config.json) atomically to `export_dir`; returns the path."""
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
            build_archive(model, task).write_out(tmp, verbose=False)
            config.save(tmp, model_dir=os.path.abspath(config.model_dir))
            names, statistics = task.class_names(), task.input_statistics()
            os.makedirs(os.path.join(tmp, "assets"), exist_ok=True)
            if names is not None:  # readable beside the signatures that return them
                config.run_dir.write_class_names(names, os.path.join(tmp, "assets"))
            if statistics is not None:  # what the signatures standardize with, readable
                config.run_dir.write_statistics(statistics, os.path.join(tmp, "assets"))
            with open(os.path.join(tmp, "assets", "export.json"), "w", encoding="utf-8") as f:
                f.write(describe(task, all_endpoints(model, task)[:-1]))  # what `describe` returns
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


def export_checkpoint(model_dir, export_dir="", checkpoint=""):
    """Rebuilds the model of `model_dir` from its config.json, restores a checkpoint (the latest by default) and
    exports it. Returns the export path."""
    model, task, _ = trained.restore_model(model_dir, checkpoint)
    return export_saved_model(model, task, export_dir or task.config.resolved_export_dir)
