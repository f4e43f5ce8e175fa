"""What vidrep-eval and vidrep-viz predict with: a model directory's checkpoint or an exported SavedModel, behind one
interface (`input_frames`, `future_frames`, `frame_shape`, `output`, `predict`, `reconstruct`, ...)."""
import os

import numpy as np
import tensorflow as tf

from keras_vidrep import trained
from keras_vidrep.config import Config
from keras_vidrep.data import video_sequences
from keras_vidrep.errors import ConfigError
from keras_vidrep.runs.directory import CONFIG_FILE


def predictor(model_dir="", saved_model="", checkpoint=""):
    """A CheckpointPredictor for `model_dir` or a SavedModelPredictor for `saved_model` (exactly one is given).

    Both expose `input_frames`, `future_frames`, `frame_shape`, `output`, `config` (None for a foreign
    SavedModel), `reconstructs`, `predicts`, `can_teacher_force`, `reconstruct(frames)` (input order) and
    `predict(frames, steps, truth=None)`; both predictions return (frames, logits), logits None where unknown.
    """
    if bool(model_dir) == bool(saved_model):
        raise ConfigError("give exactly one of `model_dir` and `saved_model`")
    return CheckpointPredictor(model_dir, checkpoint) if model_dir else SavedModelPredictor(saved_model)


class CheckpointPredictor:
    """Predictions of the model in `model_dir`, restored from its latest (or a given) checkpoint."""

    def __init__(self, model_dir, checkpoint=""):
        self.model, self.task, self.source = trained.restore_model(model_dir, checkpoint)
        self.config = self.task.config
        if not self.task.predicts_video:
            raise ConfigError(f"`model_dir` {model_dir!r} holds a model of task {self.config.task!r}; this tool "
                              f"evaluates video predictors (tasks composite and latent)")
        self.input_frames, self.future_frames = self.config.input_frames, self.config.future_frames
        self.frame_shape = tuple(self.config.frame_shape)
        self.output = self.config.output
        self.can_teacher_force = self.model.predicts and self.model.conditional_future
        self.reconstructs, self.predicts = self.model.reconstructs, self.model.predicts
        self._future = tf.function(lambda x, steps: self.model.future_logits(x, steps), reduce_retracing=True,
                                   autograph=False)

    def _frames(self, logits):
        logits = video_sequences.unflatten(np.asarray(logits), self.frame_shape)
        frames = np.asarray(self.model.activate(logits))
        return frames, (logits if self.output == "sigmoid" else None)

    def reconstruct(self, frames):
        logits = np.asarray(self.model.reconstruction_logits(video_sequences.flatten(frames)))[:, ::-1]
        return self._frames(logits)

    def predict(self, frames, steps, truth=None):
        """Free-running prediction of `steps` frames, or teacher-forced on `truth` (N, steps, *frame_shape)."""
        flat = video_sequences.flatten(frames)
        if truth is None:
            logits = self._future(flat, steps)
        else:
            logits = self.model.forward(flat, video_sequences.flatten(truth), teacher_forcing=True)["future"]
        return self._frames(logits)


class SavedModelPredictor:
    """Predictions of an exported SavedModel, through its `reconstruct` and `predict_future` signatures only."""

    def __init__(self, path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ConfigError(f"`saved_model` {path!r} is not a SavedModel directory")
        self.loaded = tf.saved_model.load(path)
        self.config = Config.load(path) if os.path.isfile(os.path.join(path, CONFIG_FILE)) else None
        self.source = path
        self.can_teacher_force = False
        signatures = self.loaded.signatures
        self.predicts = "predict_future" in signatures
        reader = "predict_future" if self.predicts else "encode"
        if reader not in signatures:
            raise ConfigError(f"`saved_model` {path!r} has neither a `predict_future` nor an `encode` signature (it "
                              f"has {', '.join(signatures)}); this tool evaluates video predictors")
        shape = signatures[reader].structured_input_signature[1]["frames"].shape
        self.input_frames, self.frame_shape = int(shape[1]), tuple(int(d) for d in shape[2:])
        # A frame VAE's `reconstruct` (in a latent predictor's export) reads single frames, not sequences.
        self.reconstructs = ("reconstruct" in signatures and
                             signatures["reconstruct"].structured_input_signature[1]["frames"].shape.rank == len(shape))
        self._takes_steps = self.predicts and "steps" in signatures["predict_future"].structured_input_signature[1]
        self.future_frames = self._trained_future_frames() if self.predicts else 0
        self.output = self.config.output if self.config else "sigmoid"

    def _trained_future_frames(self):
        """The trained length: config.json's, else what `predict_future` predicts without `steps`."""
        if self.config is not None:
            return int(self.config.future_frames)
        zeros = tf.zeros((1, self.input_frames, *self.frame_shape), tf.float32)
        return int(self.loaded.predict_future(zeros)["future"].shape[1])

    def _call(self, name, key, frames, **extra):
        out = self.loaded.signatures[name](frames=tf.constant(frames, tf.float32), **extra)
        logits = out.get(f"{key}_logits")
        return out[key].numpy(), None if logits is None else logits.numpy()

    def reconstruct(self, frames):
        return self._call("reconstruct", "reconstruction", frames)

    def predict(self, frames, steps, truth=None):
        """Free-running prediction of `steps` frames, by the signature's own in-graph loop."""
        if not self._takes_steps:
            out = self._call("predict_future", "future", frames)  # an export that predicts a fixed length
            if out[0].shape[1] < steps:
                raise ConfigError(f"the SavedModel predicts {out[0].shape[1]} frames, fewer than {steps}; "
                                  f"re-export it (vidrep-export) to predict any number of frames")
            return out[0][:, :steps], None if out[1] is None else out[1][:, :steps]
        return self._call("predict_future", "future", frames, steps=tf.constant(steps, tf.int32))
