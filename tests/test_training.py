"""End to end: the real training loop on tiny configs — learning, resuming, TensorBoard, checkpoints."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from keras_vidrep.errors import ConfigError
from keras_vidrep.runs.checkpoints import NonFiniteError
from keras_vidrep.training import loop


def test_loss_falls_on_a_tiny_config(tiny_config):
    config = tiny_config.replace(train_steps=60, learning_rate=3e-3, eval_every=60, export=False)
    trainer = loop.Trainer(config.validate())
    before = trainer.evaluate()
    after = trainer.train()
    assert after["future"] < 0.75 * before["future"]
    assert after["reconstruction"] < 0.75 * before["reconstruction"]


@pytest.mark.parametrize("changes", [{"output": "linear"}, {"model": "autoencoder", "future_frames": 0}])
def test_linear_output_and_autoencoder_learn(tiny_config, changes):
    config = tiny_config.replace(train_steps=100, learning_rate=3e-3, eval_every=100, export=False, **changes)
    trainer = loop.Trainer(config.validate())
    before = trainer.evaluate()
    after = trainer.train()
    assert after["reconstruction"] < 0.75 * before["reconstruction"], (before, after)
    if config.model == "autoencoder":
        assert "future" not in after and not any("future" in k for k in after), after
    else:
        # 0.5 * squared error: predicting the mean training frame is already a fair guess, and the model beats it
        assert after["reconstruction"] < after["baseline/mean_training_frame/reconstruction"], after
        assert after["future"] < after["baseline/mean_training_frame/future"] < before["future"], (before, after)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, tiny_config):
    straight = tiny_config.replace(model_dir=str(tmp_path / "straight"), train_steps=8, export=False,
                                   conditional_future=True, peepholes=True)
    first = straight.replace(model_dir=str(tmp_path / "resumed"), train_steps=5)
    second = first.replace(train_steps=8)
    reference = loop.Trainer(straight.validate())
    reference.train()
    loop.Trainer(first.validate()).train()
    resumed = loop.Trainer(second.validate())
    assert resumed.restored.endswith("ckpt-5") and int(resumed.step.numpy()) == 5
    resumed.train()
    assert int(resumed.step.numpy()) == 8
    for a, b in zip(reference.model.weights, resumed.model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
    assert sorted(os.path.basename(p) for p in glob.glob(os.path.join(first.model_dir, "checkpoints", "*.index"))) \
        == ["ckpt-5.index", "ckpt-6.index", "ckpt-8.index"]  # keep_checkpoints=3


def test_resuming_with_another_architecture_is_refused(tiny_config):
    loop.Trainer(tiny_config.validate()).close()
    with pytest.raises(ConfigError, match=r"different model \(units: \(32,\) -> \(16,\)\)"):
        loop.Trainer(tiny_config.replace(units=(16,)).validate())


def read_scalars(logdir):
    acc = EventAccumulator(logdir, size_guidance={"tensors": 0})
    acc.Reload()
    return acc, {tag: [(e.step, float(tf.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
                 for tag in acc.Tags()["tensors"] if tag not in ("sequences", "animation")}


def test_tensorboard_summaries(tiny_config):
    loop.train(tiny_config.replace(export=False))
    _, train = read_scalars(os.path.join(tiny_config.model_dir, "train"))
    assert {"loss/reconstruction", "loss/future", "loss/total", "learning_rate", "steps_per_second"} <= set(train)
    assert [s for s, _ in train["loss/future"]] == [3, 6]
    assert train["learning_rate"][0][1] == pytest.approx(1e-3)
    acc, val = read_scalars(os.path.join(tiny_config.model_dir, "validation"))
    assert {"loss/reconstruction", "loss/future"} <= set(val)
    image = acc.Tensors("sequences")[-1]
    strings = tf.make_ndarray(image.tensor_proto)  # [width, height, png, png, ...]
    decoded = tf.io.decode_png(strings[2]).numpy()  # labelled RGB: two rows of 20 frames, with label bands
    assert decoded.shape[2] == 3 and 2 * 32 < decoded.shape[0] < 3 * 32 and 20 * 32 < decoded.shape[1] < 25 * 32
    gif = tf.make_ndarray(acc.Tensors("animation")[-1].tensor_proto)
    assert gif[2][:6] == b"GIF89a" and int(gif[0]) >= 2 * 32 and int(gif[1]) > 32  # a labelled frame pair


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_config):
    config = tiny_config.replace(train_steps=6, checkpoint_every=2, export=False)
    trainer = loop.Trainer(config.validate())
    real_step = trainer.train_step
    calls = []

    def step_then_poison(iterator):
        calls.append(1)
        out = real_step(iterator)
        return {k: (v * np.nan if len(calls) == 5 else v) for k, v in out.items()}

    trainer.train_step = step_then_poison
    with pytest.raises(NonFiniteError, match=r"non-finite loss \(reconstruction=nan, future=nan, "
                                                      r"total=nan\) at step 5; stopped without saving.*ckpt-4"):
        trainer.train()
    assert trainer.manager.latest_checkpoint.endswith("ckpt-4")


def test_checkpoint_restores_every_model_weight_without_the_optimizer(tiny_config):
    from keras_vidrep.models import composite
    from keras_vidrep.runs import checkpoints

    config = tiny_config.replace(units=(8, 4), peepholes=True, conditional_future=True,
                                 train_steps=2, export=False)
    trainer = loop.Trainer(config.validate())
    trainer.train()
    fresh = composite.from_settings(config.settings, seed=99)
    manager = checkpoints.checkpoint_manager(config.run_dir, fresh)
    manager.checkpoint.restore(manager.latest_checkpoint).expect_partial()
    assert len(fresh.weights) == len(trainer.model.weights) == 39
    for a, b in zip(trainer.model.weights, fresh.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


def test_bad_data_leaves_no_model_dir(tiny_config, tmp_path):
    from keras_vidrep.errors import DataError

    config = tiny_config.replace(digits="mnist_h5", digits_path=str(tmp_path / "absent.h5"))
    with pytest.raises(DataError, match="no such file"):
        loop.Trainer(config.validate())
    assert not os.path.exists(config.model_dir)
