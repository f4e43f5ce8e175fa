"""From a folder of videos to maps of learned codes: vidrep-features (resumable), an LSTM autoencoder over feature
windows that never cross videos, its export, vidrep-embed of windows and every picture of vidrep-viz --codes."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import tensorflow as tf
from conftest import plain_client, write_video

from keras_vidrep import tasks, trained
from keras_vidrep.config import Config
from keras_vidrep.data import video
from keras_vidrep.data.frame_file import FeatureFile
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)


def features(*args, cwd=None):
    return subprocess.run([os.path.join(BIN, "vidrep-features"), *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for i in range(3):
        write_video(root / f"clip{i}.avi", frames=20 + 4 * i)
    (root / "broken.avi").write_bytes(b"not a video")
    return root


@pytest.fixture(scope="module")
def feature_file(folder, tmp_path_factory):
    output = tmp_path_factory.mktemp("features") / "features.h5"
    result = features(f"--videos={folder}", f"--output={output}", "--every=4", "--weights=none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "3 videos added, 0 already there, 1 unreadable" in result.stdout
    bad = [line for line in result.stderr.splitlines() if "broken.avi" in line]
    assert len(bad) == 1 and "vidrep-features: skipped" in bad[0] and "cannot decode" in bad[0]
    return output


def test_features_shapes_index_and_resume(feature_file, folder, tmp_path):
    with h5py.File(feature_file, "r") as f:
        assert f["features"].shape == (5 + 6 + 7, 2048) and f["features"].dtype == np.float32
        assert list(f["counts"][...]) == [5, 6, 7]
        assert list(f["video_index"][...]) == [0] * 5 + [1] * 6 + [2] * 7
        assert list(f["frame_number"][:6]) == [0, 4, 8, 12, 16, 0]
        assert f.attrs["backbone"] == "resnet50" and f.attrs["every"] == 4
        names = [v.decode() for v in f["videos"][...]]
        first = f["features"][...]
    assert [os.path.basename(n) for n in names] == ["clip0.avi", "clip1.avi", "clip2.avi"]
    # an interrupted run left half a video behind; a new video joins the folder: only it is computed
    partial = tmp_path / "partial.h5"
    with h5py.File(feature_file, "r") as src, h5py.File(partial, "w") as f:
        for key in src:
            f.create_dataset(key, data=src[key][...], maxshape=(None, *src[key].shape[1:]))
        f.attrs.update(src.attrs)
        for key in ("features", "video_index", "frame_number"):
            f[key].resize(len(f[key]) + 3, axis=0)  # rows of a video whose count was never written
    write_video(tmp_path / "new.avi", frames=8)
    result = features(f"--videos={folder},{tmp_path / 'new.avi'}", f"--output={partial}", "--every=4",
                      "--weights=none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "1 videos added, 3 already there, 1 unreadable" in result.stdout
    with h5py.File(partial, "r") as f:
        assert list(f["counts"][...]) == [5, 6, 7, 2] and f["features"].shape == (20, 2048)
        assert list(f["video_index"][18:]) == [3, 3]
        np.testing.assert_array_equal(f["features"][:18], first)
    other = features(f"--videos={folder}", f"--output={partial}", "--every=2", "--weights=none")
    assert other.returncode == 2 and "holds features with every=4, not 2" in other.stderr


def test_backbone_splits_each_batch_over_the_devices(tmp_path):
    """Two logical CPUs stand in for two GPUs: split passes give the features of a single-device pass."""
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                                   [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_vidrep.data.backbone import Backbone
        backbone = Backbone("resnet50", "none", batch_size=5)
        assert backbone.devices == []  # no GPU: the default device
        frames = np.random.default_rng(0).integers(0, 256, (7, 40, 48, 3), dtype=np.uint8)
        one = backbone(frames)
        backbone.devices = ["/CPU:0", "/CPU:1"]
        two = backbone(frames)
        assert one.shape == two.shape == (7, 2048)
        assert np.max(np.abs(one - two)) <= 1e-5 * np.max(np.abs(one)), np.max(np.abs(one - two))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]


def config(feature_file, tmp_path, **values):
    return Config("composite", **{**dict(
        model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "export"), data="video_features",
        data_file=str(feature_file), feature_dim=2048, model="autoencoder", seq_length=3, input_frames=3,
        future_frames=0, output="linear", bottleneck=4, units=(16,), val_fraction=0.34, val_split="videos",
        batch_size=8, train_steps=30, eval_every=30, summary_every=10, checkpoint_every=15, val_sequences=16,
        seed=1), **values}).validate()


def test_windows_never_cross_videos(feature_file, tmp_path):
    task = tasks.create(config(feature_file, tmp_path))
    task.prepare_data()
    file, stream = FeatureFile(str(feature_file)), task.source
    for starts in (stream.train_starts.values(), stream.val_starts.values()):
        rows = starts[:, None] + np.arange(3)
        assert np.all(file.video_of(rows) == file.video_of(rows[:, :1]))
    assert set(stream.train_starts.values()).isdisjoint(stream.val_starts.values())
    train = task.train_batch(0, 8, 0, 8)[0]
    assert train.shape == (8, 3, 2048) and abs(float(train.mean())) < 1.0  # standardized


def test_train_export_embed_and_draw(feature_file, folder, tmp_path):
    cfg = config(feature_file, tmp_path)
    initial = tasks.create(cfg).build_model()
    loop.train(cfg)
    trained_model, task, path = trained.restore_model(cfg.model_dir)
    assert path.endswith("ckpt-30")
    windows = FeatureFile(str(feature_file)).sequences(np.array([0, 6, 12]), 3)
    np.save(tmp_path / "windows.npy", windows)
    # A program without the package: the plain client gives clip1.avi (24 frames, every 4th: 4 windows of 3), as
    # decoded, to the export's backbone and model; then, in the same process, the file's windows go to the
    # signatures that read feature windows.
    windows_script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        windows = tf.constant(np.load(sys.argv[5]))
        np.savez(sys.argv[6], code=loaded.signatures["encode"](frames=windows)["representation"].numpy(),
                 recon=loaded.signatures["reconstruct"](frames=windows)["reconstruction"].numpy())
    """)
    client = plain_client(cfg.resolved_export_dir, folder / "clip1.avi", tmp_path / "client.npz", windows_script,
                          tmp_path / "windows.npy", tmp_path / "out.npz")
    got = np.load(tmp_path / "out.npz")
    task.prepare_data()
    standardized = task.source.standardize(windows).astype(np.float32)
    np.testing.assert_allclose(got["code"], np.asarray(trained_model.code(standardized)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(got["code"], np.asarray(initial.code(standardized)), atol=1e-3)  # trained_model, not initial
    for ours, theirs in zip(trained_model.weights, initial.weights):
        if ours.path.endswith("kernel"):
            assert not np.allclose(np.asarray(ours), np.asarray(theirs))
    assert got["recon"].shape == (3, 3, 2048)

    codes = tmp_path / "codes.h5"
    embed = subprocess.run([os.path.join(BIN, "vidrep-embed"), f"--model_dir={cfg.model_dir}",
                            f"--data_file={feature_file}", f"--output={codes}"], capture_output=True, text=True,
                           timeout=120)
    assert embed.returncode == 0, embed.stderr[-3000:]
    assert "embedded 12 windows (code size 4)" in embed.stdout  # 5 + 6 + 7 rows, windows of 3: 3 + 4 + 5
    with h5py.File(codes, "r") as f:
        assert f["codes"].shape == (12, 4)
        assert list(f["video_index"][...]) == [0] * 3 + [1] * 4 + [2] * 5
        assert list(f["frame_number"][:3]) == [0, 4, 8] and list(f["end_frame_number"][:3]) == [8, 12, 16]
        np.testing.assert_allclose(f["codes"][:1], got["code"][:1], rtol=1e-4, atol=1e-5)
        all_codes = f["codes"][...]
    # The new video, as decoded, through the backbone inside the export (ResNet50 of the file's random weights): the
    # program without the package got the codes of its windows that vidrep-encode --model_dir gives and that
    # vidrep-embed gave from the file.
    described = json.loads((tmp_path / "export" / "assets" / "export.json").read_text())
    assert described["video_input"]["backbone"] == "resnet50" and described["video_input"]["frame_skip"] == 4
    clips = client["encode_video_clips/clip_representation"][0]
    command = [os.path.join(BIN, "vidrep-encode"), f"--model_dir={cfg.model_dir}", f"--videos={folder / 'clip1.avi'}",
               f"--output={tmp_path / 'new.h5'}", "--projector_points=0"]
    encoded = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert encoded.returncode == 0, encoded.stderr[-3000:]
    with h5py.File(tmp_path / "new.h5", "r") as f:
        np.testing.assert_allclose(clips, f["codes"][...], rtol=1e-4, atol=1e-5)
        assert list(f["frame_number"][...]) == [0, 4, 8, 12]
    np.testing.assert_allclose(clips, all_codes[3:7], rtol=1e-3, atol=1e-4)
    # The run keeps the statistics its inputs are standardized with (so does its export): with the training file moved
    # away, a copy of it embeds to the same codes, read as training read it.
    stored = json.loads((tmp_path / "run" / "input_statistics.json").read_text())
    np.testing.assert_array_equal(np.float32(stored["mean"]), task.source.standardization[0])
    np.testing.assert_array_equal(np.float32(stored["std"]), task.source.standardization[1])
    assert json.loads((tmp_path / "export" / "assets" / "input_statistics.json").read_text()) == stored
    shutil.copy(feature_file, tmp_path / "copy.h5")
    os.rename(feature_file, tmp_path / "moved.h5")
    try:
        again = subprocess.run([os.path.join(BIN, "vidrep-embed"), f"--model_dir={cfg.model_dir}",
                                f"--data_file={tmp_path / 'copy.h5'}", f"--output={tmp_path / 'again.h5'}",
                                "--projector_points=0"], capture_output=True, text=True, timeout=120)
    finally:
        os.rename(tmp_path / "moved.h5", feature_file)
    assert again.returncode == 0, again.stderr[-3000:]
    with h5py.File(tmp_path / "again.h5", "r") as f:
        np.testing.assert_array_equal(f["codes"][...], all_codes)

    projector = tmp_path / "codes_projector"  # each window's first frame, decoded from its video, as thumbnail
    rows = [line.split("\t") for line in (projector / "metadata.tsv").read_text().splitlines()]
    assert rows[0] == ["video", "frame", "label", "cluster"] and rows[4][:2] == ["clip1.avi", "0"] and len(rows) == 13
    np.testing.assert_array_equal(tf.train.load_variable(str(projector), "embedding/.ATTRIBUTES/VARIABLE_VALUE"),
                                  all_codes)
    sprite = tf.io.decode_png(tf.io.read_file(str(projector / "sprite.png"))).numpy()
    first = video.read_video(str(folder / "clip1.avi"), size=(64, 64), crop_square=True)[0]
    assert sprite.shape == (4 * 64, 4 * 64, 3)
    np.testing.assert_allclose(sprite[0:64, 192:256], first, atol=2)  # window 3 (row 0, column 3): clip1 frame 0

    labels = tmp_path / "labels.txt"
    labels.write_text("walk\nrest\nwalk\n")
    maps = subprocess.run([os.path.join(BIN, "vidrep-viz"), f"--codes={codes}", f"--out_dir={tmp_path / 'maps'}",
                           "--perplexities=2,5", "--clusters=3", f"--labels_file={labels}"], capture_output=True,
                          text=True, timeout=180)
    assert maps.returncode == 0, maps.stderr[-3000:]
    for name in ("tsne.png", "clusters.png", "timeline.png", "patterns.png", "learning_curve.png"):
        assert (tmp_path / "maps" / name).stat().st_size > 5000, name
    rows = (tmp_path / "maps" / "clusters.csv").read_text().splitlines()
    assert rows[0] == "video,frame_number,end_frame_number,kmeans,agglomerative" and len(rows) == 13
    labels.write_text("walk\nrest\n")
    wrong = subprocess.run([os.path.join(BIN, "vidrep-viz"), f"--codes={codes}", f"--out_dir={tmp_path / 'm2'}",
                            "--perplexities=5", f"--labels_file={labels}"], capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "has 2 labels for 3 videos" in wrong.stderr.strip().splitlines()[-1]
    assert not os.path.exists(tmp_path / "m2")  # refused before anything was made
