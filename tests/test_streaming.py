"""Validation, evaluation and code maps read their data batch by batch: the whole-set numbers equal those of the set
held in memory, and memory does not grow with the file."""
import tracemalloc

import h5py
import numpy as np
import pytest
from conftest import pool_by_video

from keras_vidrep import trained
from keras_vidrep.analysis import code_maps, evaluate, metrics
from keras_vidrep.config import Config
from keras_vidrep.data.frame_file import FeatureFile, FrameFile, WindowStream
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.tasks import accumulate
from keras_vidrep.training import loop


def near_ties(probabilities, margin=1e-5):
    """Rows whose two most probable classes are closer than float32 rounding of different graphs could decide:
    an accuracy computed by another graph may count them either way."""
    top = np.sort(np.asarray(probabilities), axis=-1)
    return int((top[:, -1] - top[:, -2] < margin).sum())


def fc6_files(tmp_path, frames_per_video, videos=12, dim=16, classes=3):
    rng = np.random.default_rng(0)
    counts = [frames_per_video + (i % 5) for i in range(videos)]
    with h5py.File(tmp_path / "fc6.h5", "w") as f:
        f["hidden6"] = rng.random((sum(counts), dim), dtype=np.float32)
    (tmp_path / "n.txt").write_text("".join(f"{c}\n" for c in counts))
    (tmp_path / "l.txt").write_text("".join(f"{i % classes}\n" for i in range(videos)))
    files = dict(data_file=str(tmp_path / "fc6.h5"), num_frames_file=str(tmp_path / "n.txt"),
                 labels_file=str(tmp_path / "l.txt"))
    return {**files, **{f"val_{k}": v for k, v in files.items()}}


def frames_h5(path, videos=3, frames=12, size=16, seed=0):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f["frames"] = rng.integers(0, 256, (videos * frames, size, size, 3), dtype=np.uint8)
        f["video_index"] = np.repeat(np.arange(videos), frames)
        f["frame_number"] = np.tile(np.arange(frames), videos)
        f["videos"] = np.array([f"v{i}.avi" for i in range(videos)], dtype=h5py.string_dtype())
    return str(path)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("vae") / "run"
    loop.train(Config("vae", model_dir=str(model_dir), canvas_size=32, digit_size=14, latent_dim=4, filters=(4,),
                      batch_size=4, train_steps=1, val_frames=4, export=False).validate())
    return str(model_dir)


def configs(tmp_path, vae_run):
    patches = np.random.default_rng(1).integers(0, 256, (11, 6 * 3 * 8 * 8), dtype=np.uint8)
    np.save(tmp_path / "patches.npy", patches)
    common = dict(model_dir=str(tmp_path / "run"), batch_size=4, train_steps=1, export=False)
    return {
        "composite": Config("composite", data="patches", data_file=str(tmp_path / "patches.npy"),
                            val_dataset="patches", val_path=str(tmp_path / "patches.npy"), val_sequences=11,
                            frame_size=8, channels=3, seq_length=6, input_frames=3, future_frames=3, units=(8,),
                            output="linear", conditional_future=True, **common),
        "vae": Config("vae", data="frames", data_file=frames_h5(tmp_path / "frames.h5"), frame_size=16,
                      channels=3, latent_dim=4, filters=(4,), val_frames=9, regularizer="mmd", val_fraction=0.34,
                      **common),
        "latent": Config("latent", vae_dir=vae_run, canvas_size=32, digit_size=14, units=(8,), input_frames=3,
                         future_frames=2, val_sequences=7, **common),
        "classifier": Config("classifier", feature_dim=16, num_classes=3, clip_length=4, units=(8,),
                             **fc6_files(tmp_path, 9), **common),
    }


@pytest.mark.parametrize("task", ["composite", "vae", "latent", "classifier"])
def test_streamed_validation_equals_the_set_in_memory(tmp_path, vae_run, task):
    trainer = loop.Trainer(configs(tmp_path, vae_run)[task].validate())
    trainer.close()
    streamed = trainer.validation_set
    assert isinstance(streamed, ValidationSet) and len(streamed) > 2 * 3  # read in several batches below
    in_batches = trainer.evaluate(batch_size=3)
    trainer.validation_set = ValidationSet.of_arrays(streamed.whole())  # the whole set in memory, as one batch
    in_memory = trainer.evaluate(batch_size=len(streamed))
    assert in_batches.keys() == in_memory.keys() and in_batches
    for name, value in in_memory.items():
        assert np.isfinite(value), name
        if not name.endswith("accuracy"):  # accuracies: below, allowing for near-ties
            assert in_batches[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    if task == "classifier":  # the video accuracy from every clip's probabilities, pooled in memory
        clips, labels, videos = streamed.whole()
        probabilities = np.asarray(trainer.task.validation_losses(trainer.model, (clips, labels, videos))
                                   ["probabilities"])
        ids, pooled = pool_by_video(probabilities, videos)
        video_labels = np.asarray(trainer.task.val_labels)[ids]
        assert abs(in_batches["video_accuracy"] - (pooled.argmax(-1) == video_labels).sum() / len(ids)) \
            <= near_ties(pooled) / len(ids)
        assert abs(in_batches["clip_accuracy"] - (probabilities.argmax(-1) == labels).mean()) \
            <= near_ties(probabilities) / len(labels)


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_classifier_validation_memory_does_not_grow_with_the_file(tmp_path):
    """Eight times the clips, the same peak: per-clip values are never gathered (50 classes x 4 bytes x ~3,400
    extra clips would be ~0.7 MB)."""
    peaks = []
    for frames in (20, 160):
        directory = tmp_path / str(frames)
        directory.mkdir()
        config = Config("classifier", model_dir=str(directory / "run"), feature_dim=16, num_classes=50,
                        clip_length=4, units=(8,), batch_size=16, train_steps=1, export=False,
                        **fc6_files(directory, frames, videos=24, classes=50)).validate()
        trainer = loop.Trainer(config)
        trainer.close()
        trainer.evaluate()  # traced once, outside the measurement
        peaks.append(_peak_bytes(trainer.evaluate))
    assert peaks[1] < peaks[0] + 256 * 1024, peaks


def test_frame_and_feature_files_stay_on_disk(tmp_path, monkeypatch):
    from keras_vidrep.data import checks, rows

    monkeypatch.setattr(checks, "BLOCK_BYTES", 256 * 1024)  # files of a few MB read in many blocks
    monkeypatch.setattr(rows, "BLOCK_BYTES", 256 * 1024)
    frames = frames_h5(tmp_path / "big.h5", videos=4, frames=1000, size=32)  # 12 MB of pixels
    peak = _peak_bytes(lambda: FrameFile(frames).read(np.arange(100, 116)))
    assert peak < 1 << 20, peak  # 16 frames are 0.2 MB as float32
    with h5py.File(tmp_path / "features.h5", "w") as f:
        f["features"] = np.random.default_rng(0).normal(size=(6000, 128)).astype(np.float32)  # 3 MB
        f["video_index"] = np.repeat(np.arange(6), 1000)
    stream = []
    peak = _peak_bytes(lambda: stream.append(WindowStream(FeatureFile(str(tmp_path / "features.h5")), 4, 0, 0.2,
                                                          "videos", standardize=True)))
    assert peak < 2 << 20, peak
    with h5py.File(tmp_path / "features.h5", "r") as f:
        train = f["features"][:5000].astype(np.float64)
    shift, scale = stream[0].standardization
    np.testing.assert_allclose(shift, train.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale, train.std(0), rtol=1e-5)


def test_evaluation_in_batches_equals_the_whole_set():
    rng = np.random.default_rng(3)
    targets, predictions = rng.random((10, 4, 8, 8)).astype(np.float32), rng.random((10, 4, 8, 8)).astype(np.float32)
    whole = metrics.summarize(metrics.frame_metrics(targets, predictions, "linear"))
    means = accumulate.HorizonMeans()
    for start in range(0, 10, 3):
        means.add(metrics.frame_metrics(targets[start:start + 3], predictions[start:start + 3], "linear"))
    for name, values in whole.items():
        assert means.result()[name]["mean"] == pytest.approx(values["mean"], rel=1e-5)
        np.testing.assert_allclose(means.result()[name]["per_horizon"], values["per_horizon"], rtol=1e-5)

    class Copy:  # predicts the last input frame: its future loss is the copy-last baseline's
        predicts, reconstructs, can_teacher_force = True, False, False

        def predict(self, frames, steps, truth=None):
            return np.repeat(frames[:, -1:], steps, axis=1), None

    data = rng.random((9, 6, 8, 8)).astype(np.float32)
    reader = (lambda ids: data[ids]), len(data)
    streamed = evaluate.evaluate(Copy(), ValidationSet(*reader), 3, 3, "linear", batch_size=2)
    assert streamed["info"]["sequences"] == 9
    whole = evaluate.evaluate(Copy(), ValidationSet.of_arrays(data), 3, 3, "linear", batch_size=9)["baseline/copy_last"]
    for name, values in whole.items():
        np.testing.assert_allclose(streamed["future/free_running"][name]["per_horizon"], values["per_horizon"],
                                   rtol=1e-5)


def test_code_maps_draw_a_seeded_subsample_of_a_large_file(tmp_path):
    codes = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
    with h5py.File(tmp_path / "codes.h5", "w") as f:
        f["means"] = codes
        f["video_index"] = np.repeat(np.arange(5), 100)
        f["frame_number"] = np.tile(np.arange(100), 5)
    data = code_maps.load_codes(str(tmp_path / "codes.h5"), max_points=40, seed=1)
    assert data["codes"].shape == (40, 3) and data["total"] == 500
    assert "40 of 500 codes (seed 1" in data["subsample"]
    rows = data["video_index"] * 100 + data["frame_number"]  # the drawn rows, in file order, with their index
    assert np.all(np.diff(rows) > 0)
    np.testing.assert_array_equal(data["codes"], codes[rows])
    again = code_maps.load_codes(str(tmp_path / "codes.h5"), max_points=40, seed=1)
    np.testing.assert_array_equal(again["codes"], data["codes"])
    assert code_maps.load_codes(str(tmp_path / "codes.h5"), max_points=1000)["subsample"] == ""
    written = code_maps.write_all(str(tmp_path / "codes.h5"), str(tmp_path / "maps"), (5,), 3, max_points=40)
    assert written[0].startswith("drew a random 40 of 500 codes")


def test_vidrep_eval_gives_a_classifier_run_its_every_clip_accuracy(tmp_path):
    import json
    import os
    import subprocess
    import sys

    files = fc6_files(tmp_path, 9)
    config = Config("classifier", model_dir=str(tmp_path / "run"), feature_dim=16, num_classes=3, clip_length=4,
                    units=(8,), batch_size=4, train_steps=1, export=False, val_clip_stride=3, **files).validate()
    loop.train(config)
    from keras_vidrep import tasks

    model = trained.restore_model(config.model_dir)[0]
    task = tasks.create(config.replace(val_clip_stride=1))
    task.prepare_data()
    clips, labels, videos = task.validation_set().whole()  # every clip, in memory
    probabilities = np.asarray(task.validation_losses(model, (clips, labels, videos))["probabilities"])
    ids, pooled = pool_by_video(probabilities, videos)
    expected = {"video_accuracy": (pooled.argmax(-1) == np.asarray(task.val_labels)[ids]).mean(),
                "clip_accuracy": (probabilities.argmax(-1) == labels).mean()}
    allowed = {"video_accuracy": near_ties(pooled) / len(ids), "clip_accuracy": near_ties(probabilities) / len(labels)}
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "vidrep-eval"),
                          f"--model_dir={tmp_path / 'run'}", "--val_clip_stride=1", "--batch_size=5",
                          f"--output_json={tmp_path / 'eval.json'}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["val_clip_stride"] == 1 and result["checkpoint"].endswith("ckpt-1")
    assert len(clips) == sum(9 + (i % 5) - 3 for i in range(12))  # stride 1, not the run's 3
    for name in ("video_accuracy", "clip_accuracy"):  # exact but for near-ties, which another graph may break
        assert abs(result["validation"][name] - expected[name]) <= allowed[name] + 1e-12, name
