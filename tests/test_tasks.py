"""A task defined here, outside the package, trains, resumes and exports through the one trainer — with an
`add_loss` term that counts the same whatever the number of replicas."""
import dataclasses
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_vidrep import tasks
from keras_vidrep.config import Config
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.errors import ConfigError
from keras_vidrep.settings import check_positive, setting
from keras_vidrep.tasks import base
from keras_vidrep.training import loop

PENALTY = 0.01


@dataclasses.dataclass
class TinySettings:
    dim: int = setting(4, "Input features.")
    hidden: int = setting(8, "Hidden units.")
    ARCHITECTURE_KEYS = ("dim", "hidden")

    def validate(self):
        check_positive(self, ("dim", "hidden"))


class ActivityPenalty(keras.layers.Layer):
    """Adds PENALTY * mean squared activation of its input as a loss (a per-replica mean, by Keras convention)."""

    def call(self, x):
        self.add_loss(PENALTY * ops.mean(ops.sum(ops.square(x), axis=-1)))
        return x


class TinyModel(keras.Model):
    def __init__(self, dim, hidden, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(hidden, activation="tanh",
                                         kernel_initializer=keras.initializers.GlorotUniform(1))
        self.penalty = ActivityPenalty(name="penalty")
        self.out = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(2))

    def call(self, x, training=False):
        return self.out(self.penalty(self.hidden(x)))


class TinyTask(base.Task):
    """Regression of a fixed random linear function."""

    name = "tiny_regression"
    Settings = TinySettings

    def prepare_data(self):
        self.weights = np.random.default_rng(0).normal(size=(self.settings.dim, 1)).astype(np.float32)

    def _examples(self, key, count):
        x = np.random.default_rng(key).normal(size=(count, self.settings.dim)).astype(np.float32)
        return x, x @ self.weights

    def train_signature(self, batch_size):
        return [((batch_size, self.settings.dim), "float32"), ((batch_size, 1), "float32")]

    def train_batch(self, step, global_batch_size, start, count):
        x, y = self._examples([self.config.seed, step], global_batch_size)
        return x[start:start + count], y[start:start + count]

    def validation_set(self):
        return ValidationSet.of_arrays(self._examples([self.config.seed, 10**9], 64))

    def build_model(self):
        model = TinyModel(self.settings.dim, self.settings.hidden)
        model(np.zeros((1, self.settings.dim), np.float32))  # creates the weights
        return model

    def train_losses(self, model, batch):
        x, y = batch
        return {"mse": ops.mean(ops.square(model(x, training=True) - y), axis=-1)}

    def export_endpoints(self, model):
        return [base.Endpoint("regress", lambda features: {"prediction": model(features)},
                              [("features", (None, self.settings.dim), "float32")])]


tasks.register(TinyTask)


def tiny_config(model_dir, **changes):
    values = dict(model_dir=str(model_dir), batch_size=8, train_steps=40, learning_rate=0.02, checkpoint_every=10,
                  summary_every=10, eval_every=40, image_every=40, seed=4)
    values.update(changes)
    return Config("tiny_regression", **values).validate()


def scalars(logdir):
    acc = EventAccumulator(logdir, size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)] for tag in acc.Tags()["tensors"]}


def test_tiny_task_trains_resumes_and_exports(tmp_path):
    config = tiny_config(tmp_path / "run")
    trainer = loop.Trainer(config)
    before = trainer.evaluate()["mse"]
    after = trainer.train()["mse"]
    assert after < 0.3 * before
    logged = scalars(os.path.join(config.model_dir, "train"))
    assert logged["loss/penalty"][0] > 0  # the add_loss term reached the loss, under its layer's name ...
    np.testing.assert_allclose(logged["loss/total"], np.add(logged["loss/mse"], logged["loss/penalty"]),
                               rtol=1e-5)  # ... and the total is the task's losses plus it
    assert "gradient_norm" in logged

    # Resume: 25 steps, then on to 40, ends where the straight run ended.
    first = loop.Trainer(tiny_config(tmp_path / "resumed", train_steps=25, export=False))
    first.train()
    resumed = loop.Trainer(tiny_config(tmp_path / "resumed", export=False))
    assert resumed.restored.endswith("ckpt-25")
    resumed.train()
    for a, b in zip(trainer.model.weights, resumed.model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)

    # Export: the task's signature, loaded by TensorFlow alone.
    loaded = tf.saved_model.load(os.path.join(config.model_dir, "export"))
    x = np.random.default_rng(9).normal(size=(5, 4)).astype(np.float32)
    out = loaded.signatures["regress"](features=tf.constant(x))["prediction"].numpy()
    np.testing.assert_allclose(out, np.asarray(trainer.model(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.signatures["serving_default"](features=tf.constant(x))["prediction"], out)

    from keras_vidrep.analysis import predictors  # the video evaluation tools refuse other families in one line
    with pytest.raises(ConfigError, match="holds a model of task 'tiny_regression'; this tool evaluates video"):
        predictors.CheckpointPredictor(config.model_dir)
    with pytest.raises(ConfigError, match="has neither a `predict_future` nor an `encode` signature .it has "
                                          "regress, describe, serving_default."):
        predictors.SavedModelPredictor(os.path.join(config.model_dir, "export"))


def test_task_settings_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="`units` is not a setting of task 'tiny_regression'"):
        Config("tiny_regression", units=(3,))
    with pytest.raises(ConfigError, match="`hidden` must be a positive integer, got 0"):
        tiny_config(tmp_path / "x", hidden=0)
    loop.Trainer(tiny_config(tmp_path / "run", export=False)).close()
    with pytest.raises(ConfigError, match=r"different model \(hidden: 8 -> 16\)"):
        loop.Trainer(tiny_config(tmp_path / "run", hidden=16))
    with pytest.raises(ConfigError, match="`task` must be one of"):
        Config("no_such_task")


def test_added_loss_does_not_depend_on_the_replica_count(tmp_path):
    """The same run on 1 and on 2 mirrored replicas (a task loaded as module:Class) ends with the same weights,
    so the add_loss term is scaled right."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(__file__))
    common = ["--task=test_tasks:TinyTask", "--batch_size=8", "--train_steps=6", "--learning_rate=0.05",
              "--checkpoint_every=6", "--eval_every=6", "--image_every=6", "--summary_every=3", "--export=false"]
    bin_dir = os.path.dirname(sys.executable)
    for name, extra in (("one", []), ("two", ["--strategy=mirrored", "--cpu_replicas=2"])):
        result = subprocess.run([os.path.join(bin_dir, "vidrep-train"), *common, f"--model_dir={tmp_path / name}",
                                 *extra], capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
    one, two = (scalars(str(tmp_path / name / "train")) for name in ("one", "two"))
    np.testing.assert_allclose(one["loss/penalty"], two["loss/penalty"], rtol=1e-4)
    np.testing.assert_allclose(one["loss/total"], two["loss/total"], rtol=1e-4)
