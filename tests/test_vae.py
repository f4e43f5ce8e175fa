"""The frame VAE: its KL and MMD loss layers, the add_loss terms in the trained loss, learning, replica invariance,
frames files from videos, embeddings and the SavedModel without this package."""
import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import tensorflow as tf
from conftest import WITHOUT_PACKAGE, plain_client, write_video
from keras import ops

from keras_vidrep import trained
from keras_vidrep.config import Config
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import vae
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)
TINY = dict(canvas_size=32, digit_size=14, latent_dim=6, filters=(8, 16), batch_size=8, val_frames=32, seed=5,
            summary_every=5, eval_every=10, image_every=10, checkpoint_every=10)


def vae_config(tmp_path, **values):
    return Config("vae", **{**TINY, "model_dir": str(tmp_path / "run"), "export_dir": str(tmp_path / "export"),
                            **values})


def test_kl_matches_the_closed_form():
    rng = np.random.default_rng(0)
    mean, log_variance = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    sigma = np.exp(0.5 * log_variance)
    # KL(N(m, s^2) || N(0, 1)) = -log s + (s^2 + m^2) / 2 - 1/2, per dimension
    expected = (-np.log(sigma) + (sigma ** 2 + mean ** 2) / 2 - 0.5).sum(axis=1)
    np.testing.assert_allclose(ops.convert_to_numpy(vae.kl_divergence(mean, log_variance)), expected, rtol=1e-5)
    assert np.allclose(ops.convert_to_numpy(vae.kl_divergence(np.zeros((2, 3)), np.zeros((2, 3)))), 0.0)


def test_kl_layer_adds_its_weighted_loss_with_warmup():
    layer = vae.KLDivergence(weight=2.0, warmup_steps=10)
    mean, log_variance = np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32)
    per_example = ops.convert_to_numpy(layer(mean, log_variance, step=np.full(4, 5.0, np.float32)))
    np.testing.assert_allclose(per_example, 1.5)  # 0.5 * sum(m^2) over 3 units
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 2.0 * 0.5 * 1.5, rtol=1e-6)  # weight 2, half warmed up
    layer(mean, log_variance, step=np.full(4, 50.0, np.float32))
    np.testing.assert_allclose(float(layer.losses[0]), 3.0, rtol=1e-6)  # warm-up over: the full weight
    with pytest.raises(ValueError, match="`weight` must be a non-negative number, got -1"):
        vae.KLDivergence(weight=-1)


def test_mmd_is_zero_for_identical_samples_and_positive_for_shifted_ones():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    assert abs(float(vae.maximum_mean_discrepancy(x, x, 8.0))) < 1e-6
    shifted = float(vae.maximum_mean_discrepancy(x, x + 2.0, 8.0))
    same_distribution = float(vae.maximum_mean_discrepancy(x, rng.normal(size=(200, 8)).astype(np.float32), 8.0))
    assert shifted > 0.2 and shifted > 20 * abs(same_distribution)
    # InfoVAE's kernel: exp(-mean over dims of (x - y)^2 / dim) when the bandwidth is the latent size
    y = rng.normal(size=(3, 8)).astype(np.float32)
    reference = np.exp(-((x[:2, None] - y[None]) ** 2).mean(-1) / 8)
    np.testing.assert_allclose(ops.convert_to_numpy(vae.gaussian_kernel(x[:2], y, 8.0)), reference, rtol=1e-5)
    layer = vae.MaximumMeanDiscrepancy(weight=3.0)
    value = float(layer(x + 2.0, x))
    np.testing.assert_allclose(float(layer.losses[0]), 3.0 * value, rtol=1e-6)


@pytest.mark.parametrize("regularizer", ["kl", "mmd"])
def test_the_add_loss_term_is_in_the_trained_loss(tmp_path, regularizer):
    trainer = loop.Trainer(vae_config(tmp_path, regularizer=regularizer, train_steps=2).validate())
    out = {k: float(v) for k, v in trainer.train_step(trainer.batches()).items()}
    assert out[regularizer] > 0
    np.testing.assert_allclose(out["total"], out["reconstruction"] + out[regularizer], rtol=1e-5)


def test_vae_reconstructs_better_than_the_mean_frame_and_logs_every_term(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = vae_config(tmp_path, train_steps=150, eval_every=150, learning_rate=3e-3, kl_warmup_steps=50)
    result = loop.train(config)["final_validation"]
    assert result["reconstruction"] < 0.85 * result["baseline/mean_training_frame"], result
    acc = EventAccumulator(str(tmp_path / "run" / "train"))
    acc.Reload()
    assert {"loss/reconstruction", "loss/kl", "loss/total", "kl_weight"} <= set(acc.Tags()["tensors"])
    acc = EventAccumulator(str(tmp_path / "run" / "validation"))
    acc.Reload()
    assert {"loss/reconstruction", "loss/kl", "loss/mmd", "loss/total", "reconstructions",
            "samples"} <= set(acc.Tags()["tensors"])
    # the checkpoint holds the trained weights: a restored model encodes like the exported one
    model, _, _ = trained.restore_model(config.model_dir)
    assert all(np.any(np.asarray(w) != 0) for w in model.weights if w.path.endswith("bias") and "conv" in w.path)


def test_validation_scores_a_sampled_code_like_training(tmp_path):
    from keras_vidrep import tasks

    task = tasks.create(vae_config(tmp_path).validate())
    task.prepare_data()
    model = task.build_model()
    images, noise = task.validation_set().whole()
    assert noise.shape == (len(images), 6)
    np.testing.assert_array_equal(task.validation_set().whole()[1], noise)  # the same codes at every validation
    per_example = {k: np.asarray(v) for k, v in task.validation_losses(model, (images, noise)).items()}
    mean, log_variance = (np.asarray(t) for t in model.encode(images))
    np.testing.assert_allclose(per_example["codes"], mean + np.exp(0.5 * log_variance) * noise, rtol=1e-5,
                               atol=1e-6)  # the codes are samples, not the means
    assert not np.allclose(per_example["reconstruction"], per_example["reconstruction_at_mean"])
    summary = task.validation_summary()
    summary.add(per_example)
    values = task.summarize_validation(summary)
    assert values["total"] == pytest.approx(values["reconstruction"] + values["kl"])  # beta = 1: the negative ELBO


@pytest.mark.parametrize("regularizer", ["kl", "mmd"])
def test_two_mirrored_replicas_match_one(tmp_path, regularizer):
    flags = ["--task=vae", "--canvas_size=32", "--digit_size=14", "--latent_dim=6", "--filters=8,16",
             "--batch_size=8", "--train_steps=3", "--val_frames=16", "--seed=2", "--export=false",
             f"--regularizer={regularizer}", "--kl_warmup_steps=2", "--mmd_prior_samples=12"]
    weights = []
    for name, extra in (("one", []), ("two", ["--strategy=mirrored", "--cpu_replicas=2"])):
        result = subprocess.run([os.path.join(BIN, "vidrep-train"), *flags, *extra,
                                 f"--model_dir={tmp_path / name}"], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        model, _, _ = trained.restore_model(str(tmp_path / name))
        weights.append(([np.asarray(w) for w in model.weights], summary["final_validation"]))
    assert "2 replica(s) x 4 per replica" in result.stderr
    for a, b in zip(weights[0][0], weights[1][0]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights[0][1]["total"], weights[1][1]["total"], rtol=1e-4)


def test_bad_vae_settings_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="divisible by 2 \\*\\* len\\(`filters`\\) = 8"):
        vae_config(tmp_path, canvas_size=36, filters=(8, 8, 8)).validate()
    with pytest.raises(ConfigError, match="`data`=frames needs `data_file`"):
        vae_config(tmp_path, data="frames").validate()
    with pytest.raises(ConfigError, match="`regularizer` must be one of kl, mmd, got 'gan'"):
        vae_config(tmp_path, regularizer="gan").validate()


def preprocess(tmp_path, *extra):
    folder = tmp_path / "videos"
    folder.mkdir(exist_ok=True)
    for i in range(3):
        write_video(folder / f"clip{i}.avi", frames=24 + i)
    output = tmp_path / "frames.h5"
    result = subprocess.run([os.path.join(BIN, "vidrep-preprocess"), f"--videos={folder}", f"--output={output}",
                             "--kind=frames", "--size=32", *extra], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return output


def test_preprocess_frames_crops_skips_caps_and_indexes(tmp_path):
    from keras_vidrep.data import video

    output = preprocess(tmp_path, "--keep_aspect", "--frame_skip=2", "--max_frames=9")
    with h5py.File(output, "r") as f:
        frames, index, numbers = f["frames"][...], f["video_index"][...], f["frame_number"][...]
        assert list(f["counts"][...]) == [9, 9, 9] and len(f["videos"]) == 3
    assert frames.shape == (27, 32, 32, 3)
    assert list(index) == [0] * 9 + [1] * 9 + [2] * 9
    assert list(numbers[:9]) == list(range(0, 18, 2))
    decoded = video.read_video(str(tmp_path / "videos" / "clip0.avi"), frame_skip=2)
    expected = video.resize_frame(decoded[3][:, 4:44], 32, 32)  # 48x40: the centred 40x40 square, then 32x32
    np.testing.assert_array_equal(frames[3], expected)


def test_train_on_a_frames_file_embed_and_export_without_the_package(tmp_path):
    data = preprocess(tmp_path)
    config = vae_config(tmp_path, data="frames", data_file=str(data), frame_size=32, channels=3, output="linear",
                        regularizer="mmd", train_steps=20, val_fraction=0.34)
    loop.train(config)
    for output in ("codes.h5", "codes.npy"):
        result = subprocess.run([os.path.join(BIN, "vidrep-embed"), f"--model_dir={config.model_dir}",
                                 f"--data_file={data}", f"--output={tmp_path / output}", "--log_variances",
                                 "--reconstructions"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "embedded 75 frames (z=6)" in result.stdout
    with h5py.File(tmp_path / "codes.h5", "r") as f:
        means, index, numbers = f["means"][...], f["video_index"][...], f["frame_number"][...]
        assert f["log_variances"].shape == (75, 6) and f["reconstructions"].shape == (75, 32, 32, 3)
        assert f.attrs["data_file"] == str(data)
    assert means.shape == (75, 6) and list(np.bincount(index)) == [24, 25, 26] and numbers[24] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), means)
    np.testing.assert_array_equal(np.load(tmp_path / "codes_video_index.npy"), index)
    for picture in ("codes_samples.png", "codes_reconstructions.png"):
        assert (tmp_path / picture).stat().st_size > 1000
    projector = tmp_path / "codes_projector"  # every frame's code, metadata and thumbnail for TensorBoard
    rows = [line.split("\t") for line in (projector / "metadata.tsv").read_text().splitlines()]
    assert rows[0] == ["video", "frame", "label", "cluster"] and len(rows) == 76
    assert rows[25][:3] == ["clip1.avi", "0", "videos"] and {r[3] for r in rows[1:]} <= set(map(str, range(8)))
    np.testing.assert_array_equal(tf.train.load_variable(str(projector), "embedding/.ATTRIBUTES/VARIABLE_VALUE"),
                                  means)
    sprite = tf.io.decode_png(tf.io.read_file(str(projector / "sprite.png"))).numpy()
    assert sprite.shape == (9 * 32, 9 * 32, 3)  # 75 frames of 32 x 32 in a 9 x 9 grid
    # New videos, decoded as they come: the run kept how its frames were cut (stretched to 32 x 32, every frame), and
    # vidrep-encode gives the same code of every frame from the run and from its export's encode_video.
    assert json.loads((tmp_path / "run" / "video_input.json").read_text()) == {
        "channels": 3, "crop": "stretch", "frame_skip": 1, "frames": 1, "height": 32, "width": 32, "short_side": 0,
        "backbone": "", "backbone_weights": ""}
    encoded = {}
    for source in (f"--model_dir={config.model_dir}", f"--saved_model={config.export_dir}"):
        out = tmp_path / f"encoded_{source[2:7]}.h5"
        result = subprocess.run([os.path.join(BIN, "vidrep-encode"), source, f"--videos={tmp_path / 'videos'}",
                                 f"--output={out}", "--projector_points=0"], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        with h5py.File(out, "r") as f:
            encoded[source] = f["codes"][...], f["video_index"][...], f["video_codes"][...]
    (run_codes, run_index, run_videos), (export_codes, export_index, export_videos) = encoded.values()
    assert run_codes.shape == (75, 6) and list(np.bincount(run_index)) == [24, 25, 26]
    np.testing.assert_array_equal(export_index, run_index)
    np.testing.assert_allclose(export_codes, run_codes, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(export_videos, run_videos, rtol=1e-4, atol=1e-5)
    # A program without the package reads clip1.avi (25 frames) with OpenCV: its export's codes of every frame.
    got = plain_client(config.export_dir, tmp_path / "videos" / "clip1.avi", tmp_path / "client.npz")
    np.testing.assert_allclose(got["encode_video/mean"][0], run_codes[run_index == 1], rtol=1e-4, atol=1e-5)
    with h5py.File(data, "r") as f:
        np.testing.assert_array_equal(sprite[32:64, 32:64], f["frames"][10])  # row 1, column 1: frame 10
    assert 'image_path: "sprite.png"' in (projector / "projector_config.pbtxt").read_text()

    with h5py.File(data, "r") as f:
        frames = f["frames"][:5].astype(np.float32) / 255.0
    np.save(tmp_path / "frames.npy", frames)
    script = WITHOUT_PACKAGE + textwrap.dedent("""
        import numpy as np, tensorflow as tf
        loaded = tf.saved_model.load(sys.argv[1])
        frames = tf.constant(np.load(sys.argv[2]))
        encoded = loaded.signatures["encode"](frames=frames)
        decoded = loaded.signatures["decode"](codes=encoded["mean"])
        sample = loaded.signatures["sample"]
        a, b = sample(count=tf.constant(4), seed=tf.constant(9)), sample(count=tf.constant(4), seed=tf.constant(9))
        c = sample(count=tf.constant(4), seed=tf.constant(10))
        np.savez(sys.argv[3], mean=encoded["mean"].numpy(), decoded=decoded["frames"].numpy(),
                 recon=loaded.signatures["reconstruct"](frames=frames)["reconstruction"].numpy(),
                 a=a["frames"].numpy(), b=b["frames"].numpy(), c=c["frames"].numpy())
    """)
    out = tmp_path / "out.npz"
    result = subprocess.run([sys.executable, "-c", script, config.resolved_export_dir, str(tmp_path / "frames.npy"),
                             str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    got = np.load(out)
    np.testing.assert_allclose(got["mean"], means[:5], rtol=1e-4, atol=1e-5)  # export == restored checkpoint
    np.testing.assert_allclose(got["decoded"], got["recon"], rtol=1e-5, atol=1e-6)
    assert got["a"].shape == (4, 32, 32, 3) and np.array_equal(got["a"], got["b"])
    assert not np.allclose(got["a"], got["c"])
