"""The LSTM in a VAE's latent space: closed-loop rollouts, its losses, training over a trained VAE, evaluation with
the composite model's tools, and its `rollout` signature without this package."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import WITHOUT_PACKAGE
from keras import ops

from keras_vidrep import trained
from keras_vidrep.config import Config
from keras_vidrep.data.frame_file import FrameFile
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import latent, vae
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)
DATA = dict(canvas_size=32, digit_size=14, seed=4)


def small_predictor(feed="truth", loss="mse"):
    model = vae.ConvVAE((16, 16, 1), 4, (4, 8), seed=0)
    model.build()
    predictor = latent.LatentPredictor(model, (12,), input_frames=3, future_frames=4, loss=loss, feed=feed, seed=1)
    predictor.build()
    return predictor


def test_rollout_feeds_back_its_own_predicted_means():
    model = small_predictor()
    prime = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    rolled = ops.convert_to_numpy(model.rollout_codes(prime, 5))
    # by hand: read the priming codes, then each predicted mean becomes the next input
    hidden, states = model.lstm.run(prime, model.lstm.zero_state(2))
    mean = ops.convert_to_numpy(model.head(hidden[:, -1]))[:, :4]
    expected = [mean]
    for _ in range(4):
        h, states = model.lstm.step(mean, states)
        mean = ops.convert_to_numpy(model.head(h))[:, :4]
        expected.append(mean)
    np.testing.assert_allclose(rolled, np.stack(expected, 1), rtol=1e-5, atol=1e-6)
    looped = ops.convert_to_numpy(model.rollout_codes(prime, ops.convert_to_tensor(5)))  # the in-graph loop
    np.testing.assert_allclose(looped, rolled, rtol=1e-5, atol=1e-6)
    frames = np.random.default_rng(1).random((2, 3, 256)).astype(np.float32)
    assert tuple(model.future_logits(frames, 7).shape) == (2, 7, 256)
    assert tuple(model(frames)["future"].shape) == (2, 4, 256)


def test_training_losses_mse_kl_and_the_feed():
    frames = np.random.default_rng(2).random((2, 7, 256)).astype(np.float32)
    truth = small_predictor("truth")
    mean, log_variance = (ops.convert_to_numpy(t) for t in truth.encode_frames(frames))
    pred_mean, _ = truth.predict_codes(mean[:, :-1])
    expected = ((ops.convert_to_numpy(pred_mean) - mean[:, 1:]) ** 2).sum(-1).mean(-1)
    np.testing.assert_allclose(ops.convert_to_numpy(truth.training_losses(frames)), expected, rtol=1e-5)
    own = small_predictor("own")  # same weights (same seeds); after 3 priming codes it reads its own means
    assert not np.allclose(ops.convert_to_numpy(own.training_losses(frames)), expected)
    kl = small_predictor("truth", "kl")
    m, lv = (ops.convert_to_numpy(t) for t in kl.predict_codes(mean[:, :-1]))
    closed = 0.5 * (lv - log_variance[:, 1:] + (np.exp(log_variance[:, 1:]) + (mean[:, 1:] - m) ** 2)
                    / np.exp(lv) - 1).sum(-1).mean(-1)
    np.testing.assert_allclose(ops.convert_to_numpy(kl.training_losses(frames)), closed, rtol=1e-4)
    x = np.zeros((1, 3), np.float32)
    assert float(latent.gaussian_kl(x, x, x, x)[0]) == 0.0


def test_windows_never_cross_videos(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((10, 8, 8), np.uint8))
    file = FrameFile(str(tmp_path / "one.npy"), channels=1)
    assert list(file.windows(file.video_runs(), 4, 3).values()) == [0]  # rows 0, 3, 6, 9
    file.video_first = np.array([0, 5, 8, 10])  # three videos of 5, 3 and 2 frames
    assert list(file.video_of(np.arange(10))) == [0] * 5 + [1] * 3 + [2] * 2
    assert list(file.window_starts(3)) == [0, 1, 2, 5]
    assert list(file.window_starts(2, skip=2)) == [0, 1, 2, 5]
    assert list(file.window_starts(2, stride=2)) == [0, 2, 5, 8]
    train, held = file.split(0.34, "tail")  # the last third of every video
    assert list(held.values()) == [3, 4, 7, 9] and list(train.values()) == [0, 1, 2, 5, 6, 8]
    assert list(file.windows(train, 2, 1).values()) == [0, 1, 5]
    train, held = file.split(0.34, "videos")  # the last of the three videos
    assert list(held.values()) == [8, 9] and list(train.values()) == list(range(8))


@pytest.fixture(scope="module")
def trained_vae(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("vae") / "run"
    loop.train(Config("vae", model_dir=str(model_dir), latent_dim=6, filters=(8, 16), batch_size=16, train_steps=60,
                      learning_rate=3e-3, val_frames=32, eval_every=60, export=False, **DATA).validate())
    return str(model_dir)


def test_latent_lstm_trains_evaluates_and_exports_a_rollout(tmp_path, trained_vae):
    config = Config("latent", model_dir=str(tmp_path / "run"), vae_dir=trained_vae, units=(24,), batch_size=8,
                    train_steps=20, val_sequences=8, eval_every=20, image_every=20, input_frames=5,
                    future_frames=5, **DATA).validate()
    result = loop.train(config)["final_validation"]
    assert {"code", "future", "vae_floor", "baseline/copy_last/future"} <= set(result)

    model, _, _ = trained.restore_model(config.model_dir)
    vae, _, _ = trained.restore_model(trained_vae)  # the frozen VAE is the trained one, in every weight
    for ours, theirs in zip(model.vae.trainable_weights + model.vae.non_trainable_weights, vae.weights):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    ev = subprocess.run([os.path.join(BIN, "vidrep-eval"), f"--model_dir={config.model_dir}",
                         f"--output_json={tmp_path / 'eval.json'}", "--num_sequences=8", "--future_frames=7"],
                        capture_output=True, text=True, timeout=120)
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "future/free_running" in ev.stdout
    from_export = subprocess.run([os.path.join(BIN, "vidrep-eval"), f"--saved_model={config.resolved_export_dir}",
                                  f"--output_json={tmp_path / 'eval_export.json'}", "--num_sequences=8",
                                  "--future_frames=7"], capture_output=True, text=True, timeout=120)
    assert from_export.returncode == 0, from_export.stderr[-3000:]
    ours, theirs = (json.load(open(tmp_path / name)) for name in ("eval.json", "eval_export.json"))
    np.testing.assert_allclose(theirs["future/free_running"]["loss"]["per_horizon"],
                               ours["future/free_running"]["loss"]["per_horizon"], rtol=1e-4)

    frames = np.random.default_rng(3).random((2, 5, 32, 32)).astype(np.float32)
    np.save(tmp_path / "frames.npy", frames)
    script = WITHOUT_PACKAGE + textwrap.dedent("""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load(sys.argv[1])
        frames = tf.constant(np.load(sys.argv[2]))
        out = loaded.signatures["rollout"](frames=frames, steps=tf.constant(12))
        default = loaded.rollout(frames)
        np.savez(sys.argv[3], frames=out["frames"].numpy(), codes=out["codes"].numpy(),
                 default=default["frames"].numpy(), signatures=sorted(loaded.signatures))
    """)
    out = tmp_path / "out.npz"
    run = subprocess.run([sys.executable, "-c", script, config.resolved_export_dir, str(tmp_path / "frames.npy"),
                          str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    got = np.load(out)
    assert got["frames"].shape == (2, 12, 32, 32) and got["codes"].shape == (2, 12, 6)
    assert got["default"].shape == (2, 5, 32, 32)
    assert {"rollout", "encode", "decode", "sample"} <= set(got["signatures"])
    expected = ops.convert_to_numpy(model.activate(model.future_logits(frames.reshape(2, 5, -1), 12)))
    np.testing.assert_allclose(got["frames"], expected.reshape(2, 12, 32, 32), rtol=1e-4, atol=1e-5)


def test_latent_settings_errors(tmp_path, trained_vae):
    with pytest.raises(ConfigError, match="`vae_dir` is required"):
        Config("latent", model_dir="m").validate()
    with pytest.raises(ConfigError, match="holds a VAE of frames \\(32, 32\\), but the data settings give frames "
                                          "\\(64, 64\\)"):
        Config("latent", model_dir="m", vae_dir=trained_vae).validate()
    with pytest.raises(ConfigError, match="`frame_skip` applies to `data`=frames"):
        from keras_vidrep import tasks

        tasks.create(Config("latent", model_dir="m", vae_dir=trained_vae, frame_skip=3, **DATA)).prepare_data()


def test_a_vae_dir_without_checkpoints_leaves_nothing_behind(tmp_path, trained_vae):
    import shutil

    from keras_vidrep.errors import VidrepError

    empty_vae = tmp_path / "vae_without_checkpoints"
    empty_vae.mkdir()
    shutil.copy(os.path.join(trained_vae, "config.json"), empty_vae)
    existing = tmp_path / "existing_run"
    existing.mkdir()
    for model_dir in (tmp_path / "new_run", existing):
        with pytest.raises(VidrepError, match="no checkpoint"):
            loop.Trainer(Config("latent", model_dir=str(model_dir), vae_dir=str(empty_vae), units=(8,),
                                batch_size=4, train_steps=1, export=False, **DATA).validate())
    assert not os.path.exists(tmp_path / "new_run") and os.listdir(existing) == []
