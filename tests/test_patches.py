"""UCF-101 patches in the original .npy layout, video files through OpenCV, vidrep-preprocess, and the composite
model on colour patches — on small files written here."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import write_video
from PIL import Image

from keras_vidrep.config import Config
from keras_vidrep.data import preprocess, video
from keras_vidrep.data.patches import SequenceFile, SequenceStream
from keras_vidrep.errors import DataError
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)


def original_layout(sequences):
    """(N, T, H, W, C) uint8 → the original file's rows: every frame channel-first, flattened."""
    return np.ascontiguousarray(sequences.transpose(0, 1, 4, 2, 3)).reshape(len(sequences), -1)


def test_channel_first_frames_come_back_channel_last(tmp_path):
    seq = np.zeros((3, 20, 32, 32, 3), np.uint8)
    seq[..., 0] = 10  # red is flat
    seq[..., 1] = np.arange(32, dtype=np.uint8)[None, None, :, None] * 4  # green grows down the rows
    seq[..., 2] = np.arange(32, dtype=np.uint8)[None, None, None, :] * 8  # blue grows along the columns
    seq[1, 7, 5, 9] = (255, 0, 128)  # one marked pixel in sequence 1, frame 7, row 5, column 9
    np.save(tmp_path / "flat.npy", original_layout(seq))
    np.save(tmp_path / "per_frame.npy", original_layout(seq).reshape(3, 20, -1))
    np.save(tmp_path / "unflattened.npy", seq.transpose(0, 1, 4, 2, 3))
    for name in ("flat", "per_frame", "unflattened"):
        patches = SequenceFile(str(tmp_path / f"{name}.npy"))
        assert len(patches) == 3
        got = patches.read([1, 0])
        assert got.shape == (2, 20, 32, 32, 3) and got.dtype == np.float32
        np.testing.assert_allclose(got * 255.0, seq[[1, 0]].astype(np.float32), atol=1e-4)
        np.testing.assert_allclose(got[0, 7, 5, 9], np.array([255, 0, 128]) / 255.0, rtol=1e-6)


def test_stream_walks_every_sequence_once_per_pass(tmp_path):
    seq = np.arange(5, dtype=np.uint8)[:, None, None, None, None] * np.ones((5, 4, 2, 2, 3), np.uint8)
    np.save(tmp_path / "p.npy", original_layout(seq))
    stream = SequenceStream(SequenceFile(str(tmp_path / "p.npy"), seq_length=4, frame_shape=(2, 2, 3)), seed=1)
    ids = np.round(stream.sequences(np.arange(15))[:, 0, 0, 0, 0] * 255).astype(int)
    for k in range(3):
        assert sorted(ids[5 * k:5 * k + 5]) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(stream.batch(2, 4, start=1, count=2), stream.sequences([9, 10]))


def test_bad_patch_files_are_one_clear_error(tmp_path):
    rows = original_layout(np.zeros((4, 20, 32, 32, 3), np.uint8))
    np.save(tmp_path / "good.npy", rows)
    truncated = tmp_path / "truncated.npy"
    truncated.write_bytes((tmp_path / "good.npy").read_bytes()[:100000])
    with pytest.raises(DataError, match="truncated.npy: not a readable .npy file"):
        SequenceFile(str(truncated))
    np.save(tmp_path / "narrow.npy", original_layout(np.zeros((4, 20, 28, 28, 3), np.uint8)))
    with pytest.raises(DataError, match=r"each row must hold 20 frames of 3x32x32 = 61440 values, but the file has "
                                        r"shape \(4, 47040\)"):
        SequenceFile(str(tmp_path / "narrow.npy"))
    for args, message in (
            ([f"--data_file={truncated}"], "truncated.npy: not a readable .npy file"),
            ([f"--data_file={tmp_path / 'narrow.npy'}"], "each row must hold 20 frames of 3x32x32"),
            ([f"--data_file={tmp_path / 'absent.npy'}"], "absent.npy': no such file")):
        result = subprocess.run([os.path.join(BIN, "vidrep-train"), "--data=patches", "--val_dataset=patches",
                                 f"--val_path={tmp_path / 'good.npy'}", "--model_dir=m", "--output=linear", *args],
                                capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert result.returncode == 2, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("vidrep-train: error:") and message in last, last
        assert not (tmp_path / "m").exists()


def test_read_video_is_rgb_and_honours_skip_and_resize(tmp_path):
    path = str(write_video(tmp_path / "clip.avi"))
    frames = video.read_video(path)
    assert frames.shape == (30, 40, 48, 3) and frames.dtype == np.uint8
    assert frames[0, 0, 0, 0] > 200 and frames[0, 0, 0, 2] < 50  # red background, RGB order
    skipped = video.read_video(path, frame_skip=3, size=(24, 20))
    assert skipped.shape == (10, 20, 24, 3)
    assert video.read_video(path, short_side=20).shape == (30, 20, 24, 3)
    patches, starts = video.patch_sequences(frames, 10, 16, "grid")
    assert patches.shape == (3 * 2 * 3, 10, 16, 16, 3) and sorted(set(starts.tolist())) == [0, 10, 20]


def test_unreadable_and_short_videos(tmp_path):
    (tmp_path / "not_a_video.avi").write_text("hello")
    with pytest.raises(DataError, match="not_a_video.avi: OpenCV"):
        video.read_video(str(tmp_path / "not_a_video.avi"))
    short = video.read_video(str(write_video(tmp_path / "short.avi", frames=5)))
    with pytest.raises(DataError, match="short.avi: 5 frames .after frame skip., fewer than the 10 of one sequence"):
        video.patch_sequences(short, 10, 16, name=str(tmp_path / "short.avi"))
    with pytest.raises(DataError, match="no match for that pattern"):
        video.find_videos(str(tmp_path / "*.mp4"))


def preprocess_cli(*args, cwd):
    return subprocess.run([os.path.join(BIN, "vidrep-preprocess"), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_vidrep_preprocess_patches_and_frames(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "a.avi")
    write_video(folder / "b.avi", frames=24)
    result = preprocess_cli(f"--videos={folder}", "--output=p.h5", "--kind=patches", "--size=16",
                            "--seq_length=10", "--per_video=4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "wrote p.h5: 8 patches from 2 videos" in result.stdout
    with h5py.File(tmp_path / "p.h5", "r") as f:
        assert f["patches"].shape == (8, 10, 16, 16, 3) and f["patches"].dtype == np.uint8
        assert f["video_index"][()].tolist() == [0] * 4 + [1] * 4
        assert [v.decode() for v in f["videos"][()]] == [str(folder / "a.avi"), str(folder / "b.avi")]
        assert f["counts"][()].tolist() == [4, 4] and f.attrs["seq_length"] == 10
        assert (f["start_frame"][()] <= 30 - 10).all()
        assert f["patches"][:, :, :, :, 0].mean() > f["patches"][:, :, :, :, 2].mean()  # red, in RGB order
    loaded = SequenceFile(str(tmp_path / "p.h5"), seq_length=10, frame_shape=(16, 16, 3)).first()
    assert loaded.shape == (8, 10, 16, 16, 3) and loaded.max() <= 1.0
    train = subprocess.run([os.path.join(BIN, "vidrep-train"), "--data=patches", "--data_file=p.h5",
                            "--val_dataset=patches", "--val_path=p.h5", "--frame_size=16", "--seq_length=10",
                            "--input_frames=5", "--future_frames=5", "--output=linear", "--units=8", "--batch_size=4",
                            "--train_steps=2", "--val_sequences=8", "--model_dir=run"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=200)
    assert train.returncode == 0, train.stderr[-2000:]
    assert json.loads(train.stdout.strip().splitlines()[-1])["step"] == 2

    frames = preprocess_cli(f"--videos={folder}/a.avi,{folder}/b.avi", "--output=f.h5", "--kind=frames",
                            "--size=32", "--frame_skip=2", cwd=tmp_path)
    assert frames.returncode == 0, frames.stderr[-2000:]
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert f["frames"].shape == (15 + 12, 32, 32, 3) and f["counts"][()].tolist() == [15, 12]


def test_vidrep_preprocess_errors(tmp_path):
    (tmp_path / "bad.avi").write_text("not a video")
    write_video(tmp_path / "short.avi", frames=5)
    write_video(tmp_path / "good.avi")
    for videos, message in (("bad.avi", "bad.avi: OpenCV cannot decode this file as a video"),
                            ("short.avi", "short.avi: 5 frames (after frame skip), fewer than the 20"),
                            ("missing/*.avi", "no match for that pattern")):
        result = preprocess_cli(f"--videos={videos}", "--output=out.h5", cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.stderr.strip().splitlines()[-1] == f"vidrep-preprocess: error: {message}" or \
            message in result.stderr.strip().splitlines()[-1]
        assert not (tmp_path / "out.h5").exists() and not (tmp_path / "out.h5.tmp").exists()
    skipping = preprocess_cli("--videos=bad.avi,short.avi,good.avi", "--output=out.h5", "--skip_bad_videos",
                              cwd=tmp_path)
    assert skipping.returncode == 0, skipping.stderr[-2000:]
    assert "skipped 2" in skipping.stdout and "skipped bad.avi: OpenCV" in skipping.stderr


def test_tfds_ucf101_under_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=2):
        result = preprocess.write_dataset(preprocess.tfds_videos("ucf101", "train", short_side=40), str(tmp_path /
                                          "t.h5"), "patches", size=16, seq_length=4, per_video=3)
    assert result == {"videos": 2, "skipped": [], "rows": 6}
    with h5py.File(tmp_path / "t.h5", "r") as f:
        assert f["patches"].shape == (6, 4, 16, 16, 3)


def toy_patches(n, seed, t=8, size=8):
    """Colour patches: a background colour per sequence and a bright 2x2 square moving one pixel a frame."""
    rng = np.random.default_rng(seed)
    seq = np.empty((n, t, size, size, 3), np.uint8)
    seq[:] = rng.integers(0, 200, (n, 1, 1, 1, 3), dtype=np.uint8)
    rows, cols, direction = rng.integers(0, size - 2, n), rng.integers(0, 2, n), rng.choice([-1, 1], n)
    for i in range(n):
        for k in range(t):
            c = (cols[i] + direction[i] * k) % (size - 1)
            seq[i, k, rows[i]:rows[i] + 2, c:c + 2] = 255
    return seq


def test_patch_model_learns_better_than_the_mean_frame_and_shows_colour(tmp_path):
    np.save(tmp_path / "train.npy", original_layout(toy_patches(512, 0)))
    np.save(tmp_path / "valid.npy", original_layout(toy_patches(64, 1)))
    config = Config(model_dir=str(tmp_path / "run"), data="patches", data_file=str(tmp_path / "train.npy"),
                    val_dataset="patches", val_path=str(tmp_path / "valid.npy"), val_sequences=64, frame_size=8,
                    channels=3, seq_length=8, input_frames=4, future_frames=4, units=(64,), output="linear",
                    conditional_reconstruction=True, conditional_future=True, peepholes=True,
                    batch_size=16, train_steps=300, learning_rate=3e-3, checkpoint_every=300, summary_every=100,
                    eval_every=300, image_every=300, seed=2).validate()
    val = loop.train(config)["final_validation"]
    assert val["future"] < 0.5 * val["baseline/mean_training_frame/future"], val
    assert val["reconstruction"] < 0.5 * val["baseline/mean_training_frame/reconstruction"], val

    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(os.path.join(config.model_dir, "validation"), size_guidance={"tensors": 0})
    acc.Reload()
    strip = tf.io.decode_png(tf.make_ndarray(acc.Tensors("sequences")[-1].tensor_proto)[2]).numpy()
    assert strip.shape[2] == 3 and strip.shape[0] > 2 * 8 and strip.shape[1] > 8 * 8  # labelled RGB, 2 rows of 8
    assert np.abs(strip[..., 0].astype(int) - strip[..., 1]).max() > 50  # the channels really differ

    out = subprocess.run([os.path.join(BIN, "vidrep-viz"), f"--model_dir={config.model_dir}", "--dataset=patches",
                          f"--data_path={tmp_path / 'valid.npy'}", "--sequences=0,1", "--out_dir=pics"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=200)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Image.open(tmp_path / "pics" / "sequence_1.png").mode == "RGB"
    assert Image.open(tmp_path / "pics" / "sequence_0.gif").n_frames == 8
    ev = subprocess.run([os.path.join(BIN, "vidrep-eval"), f"--saved_model={config.model_dir}/export",
                         "--dataset=patches", f"--data_path={tmp_path / 'valid.npy'}", "--output_json=e.json"],
                        capture_output=True, text=True, cwd=tmp_path, timeout=200)
    assert ev.returncode == 0, ev.stderr[-2000:]
    results = json.loads((tmp_path / "e.json").read_text())
    assert results["future/free_running"]["loss"]["mean"] == pytest.approx(val["future"], rel=1e-3)


def test_feature_vector_sequences_train_export_and_evaluate(tmp_path):
    """Frames that are (D,) feature vectors: trained, exported and evaluated; SSIM, PSNR and pictures left out."""
    rng = np.random.default_rng(3)
    for name, n in (("train", 128), ("valid", 16)):
        start, velocity = rng.normal(size=(n, 1, 6)), rng.normal(size=(n, 1, 6)) * 0.3
        np.save(tmp_path / f"{name}.npy", (start + velocity * np.arange(8)[None, :, None]).astype(np.float32))
    config = Config(model_dir=str(tmp_path / "run"), data="features", data_file=str(tmp_path / "train.npy"),
                    val_dataset="features", val_path=str(tmp_path / "valid.npy"), feature_dim=6, seq_length=8,
                    input_frames=4, future_frames=4, units=(32,), output="linear", batch_size=16, train_steps=150,
                    learning_rate=5e-3, checkpoint_every=150, summary_every=50, eval_every=150, image_every=50,
                    val_sequences=16).validate()
    val = loop.train(config)["final_validation"]
    assert val["future"] < val["baseline/mean_training_frame/future"], val
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(os.path.join(config.model_dir, "validation"))
    acc.Reload()
    assert "loss/future" in acc.Tags()["tensors"] and "sequences" not in acc.Tags()["tensors"]

    ev = subprocess.run([os.path.join(BIN, "vidrep-eval"), f"--saved_model={config.model_dir}/export",
                         "--dataset=features", f"--data_path={tmp_path / 'valid.npy'}", "--output_json=e.json",
                         "--plot=e.png"], capture_output=True, text=True, cwd=tmp_path, timeout=200)
    assert ev.returncode == 0, ev.stderr[-2000:]
    results = json.loads((tmp_path / "e.json").read_text())
    assert set(results["future/free_running"]) == {"loss", "mse", "mae"}
    assert results["future/free_running"]["loss"]["mean"] == pytest.approx(val["future"], rel=1e-4)
    viz = subprocess.run([os.path.join(BIN, "vidrep-viz"), f"--model_dir={config.model_dir}", "--dataset=features",
                          f"--data_path={tmp_path / 'valid.npy'}"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=200)
    assert viz.returncode == 2 and "feature vectors (6,), not images" in viz.stderr.strip().splitlines()[-1]
