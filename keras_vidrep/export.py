"""SavedModel export with named signatures that any TensorFlow program loads with `tf.saved_model.load`.

Signatures (batch dimension dynamic; frames float32 in [0, 1], shape (batch, input_frames, H, W)):
  * `encode(frames)` → `representation` (batch, 2 * sum(units)): every layer's final h then c, concatenated;
    and `h_<l>`, `c_<l>` (batch, units[l]) per layer. `serving_default` is `encode`.
  * `reconstruct(frames)` → `reconstruction` (batch, input_frames, H, W), put back into input order.
  * `predict_future(frames)` → `future` (batch, future_frames, H, W), free-running.

The export is written to a temporary directory beside the target and renamed into place, so an interrupted export
never leaves a broken SavedModel where a good one was.
"""
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import logging

from keras_vidrep.config import CONFIG_FILE, Config
from keras_vidrep.errors import ConfigError


def build_archive(model, config):
    """A keras.export.ExportArchive of a built CompositeModel with the package's named endpoints."""
    frame_shape = config.frame_shape
    spec = [tf.TensorSpec([None, config.input_frames, *frame_shape], tf.float32, name="frames")]
    archive = keras.export.ExportArchive()
    archive.track(model)

    def flat(frames):
        return tf.reshape(frames, [-1, config.input_frames, config.frame_dim])

    def frames_of(x):
        return tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], *frame_shape])

    def encode(frames):
        states = model.encode(flat(frames))
        out = {"representation": tf.concat([t for h, c in states for t in (h, c)], axis=-1)}
        for i, (h, c) in enumerate(states):
            out[f"h_{i}"], out[f"c_{i}"] = h, c
        return out

    archive.add_endpoint("encode", encode, input_signature=spec)
    if model.reconstructs:
        archive.add_endpoint("reconstruct",
                             lambda frames: {"reconstruction": frames_of(tf.reverse(model.reconstruct(flat(frames)),
                                                                                    axis=[1]))},
                             input_signature=spec)
    if model.predicts:
        archive.add_endpoint("predict_future",
                             lambda frames: {"future": frames_of(model.predict_future(flat(frames)))},
                             input_signature=spec)
    return archive


def export_saved_model(model, config, export_dir):
    """Writes the SavedModel (plus the run's config.json) atomically to `export_dir`; returns the path."""
    export_dir = os.path.abspath(export_dir)
    _check_replaceable(export_dir, config)
    parent = os.path.dirname(export_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=os.path.basename(export_dir) + ".tmp-", dir=parent)
    except OSError as e:
        raise ConfigError(f"`export_dir` {export_dir!r} is not writable ({e.strerror})") from None
    try:
        build_archive(model, config).write_out(tmp, verbose=False)
        config.save(tmp)
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


def _check_replaceable(export_dir, config):
    """Refuses to replace a directory that is not an export, or an export of a different architecture."""
    if not os.path.exists(export_dir):
        return
    if not os.path.isdir(export_dir):
        raise ConfigError(f"`export_dir` {export_dir!r} exists and is not a directory")
    if not os.listdir(export_dir):
        return
    if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
        raise ConfigError(f"`export_dir` {export_dir!r} holds other files, not a SavedModel; refusing to replace it")
    if os.path.isfile(os.path.join(export_dir, CONFIG_FILE)):
        previous = Config.load(export_dir)
        changed = previous.architecture_changes(config)
        if changed or previous.experiment != config.experiment:
            what = ", ".join(changed) if changed else f"experiment {previous.experiment!r}"
            raise ConfigError(f"`export_dir` {export_dir!r} holds a different model ({what}); choose another "
                              f"`export_dir` or remove it")


def export_checkpoint(model_dir, export_dir="", checkpoint=""):
    """Rebuilds the model of `model_dir` from its config.json, restores a checkpoint (the latest by default) and
    exports it. Returns the export path."""
    from keras_vidrep.training import checkpoints

    model, config, _ = checkpoints.restore_model(model_dir, checkpoint)
    return export_saved_model(model, config, export_dir or config.resolved_export_dir)
