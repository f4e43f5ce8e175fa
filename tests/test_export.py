"""SavedModel export: named signatures, dynamic batch, loadable by TensorFlow alone, atomic replacement."""
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import WITHOUT_PACKAGE, plain_client
from PIL import Image

from keras_vidrep.data import raw_frames
from keras_vidrep.data.video import read_video
from keras_vidrep.data.video_input import VideoInput, check_video
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.export import export_checkpoint, export_saved_model
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)

# Runs in a fresh interpreter in which importing keras_vidrep fails, so the SavedModel must stand on its own.
LOADER = WITHOUT_PACKAGE + textwrap.dedent("""
    import numpy as np, tensorflow as tf
    export_dir, data = sys.argv[1], np.load(sys.argv[2])
    loaded = tf.saved_model.load(export_dir)
    frames = tf.constant(data["frames"])
    out = {}
    for name in ("encode", "reconstruct", "serving_default"):
        for key, value in loaded.signatures[name](frames=frames).items():
            out[name + "/" + key] = value.numpy()
    predict = loaded.signatures["predict_future"]
    out["predict_future/future"] = predict(frames=frames, steps=tf.constant(10))["future"].numpy()
    out["default_length"] = loaded.predict_future(frames)["future"].numpy()  # steps left out: the trained length
    out["100_frames"] = predict(frames=frames, steps=tf.constant(100))["future"].numpy()
    out["100_frames_logits"] = predict(frames=frames, steps=tf.constant(100))["future_logits"].numpy()
    out["batch1"] = predict(frames=frames[:1], steps=tf.constant(3))["future"].numpy()
    np.savez(sys.argv[3], **out)
""")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from keras_vidrep.config import Config

    root = tmp_path_factory.mktemp("export")
    config = Config(model_dir=str(root / "run"), export_dir=str(root / "export"), canvas_size=32, digit_size=14,
                    units=(16, 8), batch_size=4, train_steps=2, checkpoint_every=1, summary_every=1, eval_every=2,
                    image_every=2, val_sequences=4, conditional_future=True, peepholes=True)
    trainer = loop.Trainer(config.validate())
    trainer.train()
    return config, trainer.model


def test_saved_model_loads_and_matches_without_the_package(trained, tmp_path):
    config, model = trained
    frames = np.random.default_rng(0).random((3, 10, 32, 32)).astype(np.float32)
    np.savez(tmp_path / "in.npz", frames=frames)
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    result = subprocess.run([sys.executable, str(script), config.export_dir, str(tmp_path / "in.npz"),
                             str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    flat = frames.reshape(3, 10, -1)
    states = model.encode(flat)
    np.testing.assert_allclose(out["encode/h_1"], np.asarray(states[1][0]), rtol=1e-4, atol=1e-5)
    assert out["encode/representation"].shape == (3, 2 * (16 + 8))
    np.testing.assert_allclose(out["serving_default/representation"], out["encode/representation"])
    recon = np.asarray(model.reconstruct(flat))[:, ::-1].reshape(3, 10, 32, 32)  # export gives input order
    np.testing.assert_allclose(out["reconstruct/reconstruction"], recon, rtol=1e-4, atol=1e-5)
    future = np.asarray(model.predict_future(flat)).reshape(3, 10, 32, 32)
    np.testing.assert_allclose(out["predict_future/future"], future, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["default_length"], future, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["batch1"], future[:1, :3], rtol=1e-4, atol=1e-5)
    # 100 frames from a model trained on 10: the same first 10, then the model's own continuation
    long = np.asarray(model.future_logits(flat, 100)).reshape(3, 100, 32, 32)
    assert out["100_frames"].shape == (3, 100, 32, 32)
    np.testing.assert_allclose(out["100_frames"][:, :10], future, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["100_frames_logits"], long, rtol=1e-3, atol=1e-3)


def test_video_signatures_read_an_mp4_as_decoded(trained, tmp_path):
    """encode_video and predict_future_frames take uint8 RGB video of any size and prepare it inside the graph the
    way the package does (grey, centred square, resized to the canvas); describe says so."""
    import cv2

    config, model = trained
    writer = cv2.VideoWriter(str(tmp_path / "clip.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10, (48, 40))
    for t in range(14):  # a bright square moving right over a coloured background
        frame = np.full((40, 48, 3), (40, 90, 160), np.uint8)
        frame[12:22, 4 + 2 * t:14 + 2 * t] = 255
        writer.write(frame)
    writer.release()
    out = plain_client(config.export_dir, tmp_path / "clip.mp4", tmp_path / "out.npz")
    video = read_video(str(tmp_path / "clip.mp4"))  # the package's decoding and preparation of the same file
    video_input = VideoInput(height=32, width=32, channels=1, frames=10)
    frames = np.asarray(raw_frames.prepare(video[None], video_input))[:, :10]
    assert frames.shape == (1, 10, 32, 32) and frames.min() >= 0.0 and frames.max() <= 1.0
    flat = frames.reshape(1, 10, -1)
    np.testing.assert_allclose(out["encode_video/representation"], np.asarray(model.code(flat)), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(out["predict_future_frames/future"],
                               np.asarray(model.predict_future(flat, 4)).reshape(1, 4, 32, 32), rtol=1e-4, atol=1e-5)
    # every clip of the video (14 frames: 5 clips of 10), each the model's code of its frames, and their mean
    clips = np.asarray(raw_frames.prepare(video[None], video_input))[0]
    every = np.stack([np.asarray(model.code(clips[None, s:s + 10].reshape(1, 10, -1)))[0] for s in range(5)])
    np.testing.assert_allclose(out["encode_video_clips/clip_representation"][0], every, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["encode_video_clips/video_representation"][0], every.mean(0), rtol=1e-4,
                               atol=1e-5)
    described = json.loads(str(out["describe"]))
    assert described["video_input"] == {"channels": 1, "crop": "centre_square", "frame_skip": 1, "frames": 10,
                                        "height": 32, "width": 32, "short_side": 0, "backbone": "",
                                        "backbone_weights": ""}
    assert described["signatures"]["encode_video"]["video"] == {"shape": [None] * 5, "dtype": "uint8"}
    assert json.loads(open(os.path.join(config.export_dir, "assets", "export.json")).read()) == described
    # Frames already of the model's size, grey uint8 (batch, time, 32, 32, 1): read as they are, values / 255.
    import tensorflow as tf

    loaded = tf.saved_model.load(config.export_dir)
    digits = np.random.default_rng(1).integers(0, 256, (2, 12, 32, 32, 1), dtype=np.uint8)
    np.testing.assert_allclose(loaded.signatures["encode_video"](video=tf.constant(digits))["representation"],
                               np.asarray(model.code(digits[:, :10].reshape(2, 10, -1) / np.float32(255))),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loaded.encode_video(tf.constant(digits / np.float32(255)))["representation"],
                               loaded.encode_video(tf.constant(digits))["representation"], rtol=1e-5, atol=1e-6)
    # What a model cannot read is one line before anything runs.
    with pytest.raises(DataError, match="is grey, but the model reads RGB frames"):
        check_video((20, 40, 48), VideoInput(height=32, width=32, channels=3, frames=10))
    with pytest.raises(DataError, match="has 14 frames .7 kept at every 2-th., shorter than one clip of 10"):
        check_video(video.shape, VideoInput(height=32, width=32, channels=1, frames=10, frame_skip=2))


def write_mp4(path, frames, shift=2):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (48, 40))
    for t in range(frames):  # a bright square moving right over a coloured background
        frame = np.full((40, 48, 3), (40, 90, 160), np.uint8)
        frame[12:22, 4 + shift * t:14 + shift * t] = 255
        writer.write(frame)
    writer.release()
    return path


def test_vidrep_encode_from_the_run_and_from_its_export(trained, tmp_path, capfd):
    """Codes per clip (every 2nd frame) and per video of a folder of mp4s: the run and its export agree; a video
    shorter than one clip is one line with nothing written, or with `skip_bad_videos` left out and named."""
    import h5py

    config, model = trained
    write_mp4(tmp_path / "videos" / "walk" / "a.mp4", 14)
    write_mp4(tmp_path / "videos" / "run" / "b.mp4", 12, shift=3)
    codes = {}
    for source in (f"--model_dir={config.model_dir}", f"--saved_model={config.export_dir}"):
        out = tmp_path / f"{source[2:7]}.h5"
        result = subprocess.run([os.path.join(BIN, "vidrep-encode"), source, f"--videos={tmp_path / 'videos'}",
                                 f"--output={out}", "--stride=2", "--projector_points=4", "--clusters=2",
                                 "--predict_frames=6"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        with h5py.File(out, "r") as f:
            codes[source] = {k: f[k][...] for k in ("codes", "video_index", "frame_number", "end_frame_number",
                                                    "video_codes")}
            assert [v.decode() for v in f["videos"][...]] == [str(tmp_path / "videos" / "run" / "b.mp4"),
                                                             str(tmp_path / "videos" / "walk" / "a.mp4")]
    run, export = codes.values()
    assert list(run["video_index"]) == [0, 0, 1, 1, 1] and list(run["frame_number"]) == [0, 2, 0, 2, 4]
    assert list(run["end_frame_number"]) == [9, 11, 9, 11, 13] and run["codes"].shape == (5, 2 * (16 + 8))
    np.testing.assert_allclose(run["video_codes"][1], run["codes"][2:].mean(axis=0), rtol=1e-6)
    for key in ("codes", "video_codes"):
        np.testing.assert_allclose(export[key], run[key], rtol=1e-4, atol=1e-5)
    for key in ("video_index", "frame_number", "end_frame_number"):
        np.testing.assert_array_equal(export[key], run[key])
    video = read_video(str(tmp_path / "videos" / "walk" / "a.mp4"))
    frames = np.asarray(raw_frames.prepare(video[None, 2:12], VideoInput(height=32, width=32, channels=1, frames=10)))
    np.testing.assert_allclose(run["codes"][3], np.asarray(model.code(frames.reshape(1, 10, -1)))[0], rtol=1e-4,
                               atol=1e-5)
    assert (tmp_path / "model_projector" / "metadata.tsv").read_text().splitlines()[0] == "video\tframe\tlabel\tcluster"
    for source in ("model", "saved"):  # each video's first clip continued 6 frames, beside the truth: 16 frames
        for name in ("a", "b"):
            assert Image.open(tmp_path / f"{source}_continuations" / f"{name}.gif").n_frames == 16
    write_mp4(tmp_path / "short" / "c.mp4", 5)
    short = subprocess.run([os.path.join(BIN, "vidrep-encode"), f"--model_dir={config.model_dir}",
                            f"--videos={tmp_path / 'short'}", f"--output={tmp_path / 'short.h5'}"],
                           capture_output=True, text=True, timeout=300)
    assert short.returncode == 2 and "has 5 frames (5 kept at every 1-th), shorter than one clip of 10" in \
        short.stderr.strip().splitlines()[-1]
    assert not [n for n in os.listdir(tmp_path) if n.startswith("short.h5")]

    # With --skip_bad_videos a folder that holds it and a file OpenCV cannot decode is encoded without them: each is a
    # line on stderr, and both are named in the file (in-process: the command's own function).
    from keras_vidrep.analysis.encode import encode
    from keras_vidrep.analysis.options import EncodeOptions

    shutil.copy(tmp_path / "videos" / "walk" / "a.mp4", tmp_path / "short" / "a.mp4")
    (tmp_path / "short" / "d.mp4").write_bytes(b"not a video")
    options = EncodeOptions(model_dir=config.model_dir, videos=str(tmp_path / "short"), output=str(tmp_path / "s.h5"),
                            stride=2, projector_points=0)
    with pytest.raises(DataError, match="shorter than one clip of 10"):  # a.mp4 done, then c.mp4 stops it
        encode(options, log=lambda line: None)
    assert "the 1 videos done of 3 are kept in " in capfd.readouterr().err
    options.skip_bad_videos = True
    lines = []
    result = encode(options, log=lines.append)  # goes on after a.mp4
    warned = [line for line in capfd.readouterr().err.splitlines() if "vidrep-encode: skipped" in line]
    assert len(warned) == 2 and "c.mp4" in warned[0] and "OpenCV cannot decode" in warned[1], warned
    assert result["videos"] == 1 and [os.path.basename(p) for p in result["skipped"]] == ["c.mp4", "d.mp4"]
    assert lines[0] == f"vidrep-encode: going on after the 1 videos done in {tmp_path / 's.h5.partial'}"
    assert "encoded 3 clips of 1 videos" in lines[-1] and "skipped 2 (named in `skipped_videos`)" in lines[-1]
    assert not (tmp_path / "s.h5.partial").exists()
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert [v.decode() for v in f["videos"][...]] == [str(tmp_path / "short" / "a.mp4")]
        assert [os.path.basename(v.decode()) for v in f["skipped_videos"][...]] == ["c.mp4", "d.mp4"]
        np.testing.assert_allclose(f["codes"][...], run["codes"][2:], rtol=1e-5, atol=1e-6)  # a.mp4's, as before
        assert list(f["video_index"][...]) == [0, 0, 0]


def test_export_from_checkpoint_and_refusals(trained, tmp_path):
    config, model = trained
    path = export_checkpoint(config.model_dir, str(tmp_path / "again"))
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    import tensorflow as tf

    frames = np.random.default_rng(1).random((2, 10, 32, 32)).astype(np.float32)
    loaded = tf.saved_model.load(path)  # held: its functions need the loaded variables alive
    future = loaded.predict_future(tf.constant(frames))["future"]
    expected = np.asarray(model.predict_future(frames.reshape(2, 10, -1))).reshape(2, 10, 32, 32)
    np.testing.assert_allclose(future.numpy(), expected, rtol=1e-4, atol=1e-5)  # the trained weights, all of them
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p or ".old-" in p]  # nothing left half-written
    export_checkpoint(config.model_dir, str(tmp_path / "again"))  # same model: replaced atomically
    with pytest.raises(ConfigError, match="no such checkpoint"):
        export_checkpoint(config.model_dir, str(tmp_path / "x"), checkpoint=str(tmp_path / "ckpt-99"))
    other = tmp_path / "not_an_export"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="holds other files"):
        export_checkpoint(config.model_dir, str(other))
    assert (other / "notes.txt").read_text() == "keep me"


def test_export_refuses_to_replace_a_different_model(trained, tmp_path):
    from keras_vidrep import tasks

    config, model = trained
    different = tasks.create(config.replace(units=(8,)))
    with pytest.raises(ConfigError, match=r"holds a different model \(units: \(16, 8\) -> \(8,\)\)"):
        export_saved_model(different.build_model(), different, config.export_dir)
    other_run = tasks.create(config.replace(model_dir=config.model_dir + "_other"))
    with pytest.raises(ConfigError, match="holds the export of the run in"):
        export_saved_model(model, other_run, config.export_dir)
    assert os.path.isfile(os.path.join(config.export_dir, "saved_model.pb"))


def test_interrupted_export_keeps_the_previous_one(trained, tmp_path, monkeypatch):
    from keras_vidrep import export, tasks

    config, model = trained
    task = tasks.create(config)
    target = tmp_path / "model"
    export_saved_model(model, task, str(target))
    before = sorted(os.listdir(target))

    class BrokenArchive:
        def write_out(self, path, **kwargs):
            os.makedirs(os.path.join(path, "variables"))
            open(os.path.join(path, "saved_model.pb"), "wb").close()  # a half-written export
            raise KeyboardInterrupt

    monkeypatch.setattr(export, "build_archive", lambda model, task, backbone: BrokenArchive())
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(model, task, str(target))
    assert sorted(os.listdir(target)) == before
    assert os.path.getsize(target / "saved_model.pb") > 0
    assert sorted(os.listdir(tmp_path)) == ["model"]  # no temporary directory left behind
