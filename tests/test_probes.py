"""Linear probes: they find a factor planted in codes and nothing in shuffled labels; the generator's factors agree
with its frames; every family's representation; vidrep-probe on a tiny run."""
import importlib.util
import json
import os
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
import tensorflow as tf
from conftest import tensorboard

from keras_vidrep import tasks
from keras_vidrep.analysis import linear_probes, probe_reports
from keras_vidrep.config import Config
from keras_vidrep.data import factors
from keras_vidrep.data.bouncing import BouncingMNIST
from keras_vidrep.errors import ConfigError
from keras_vidrep.models.classifier import LSTMClassifier
from keras_vidrep.models.latent import LatentPredictor
from keras_vidrep.tasks import representations
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)


def planted(n, seed):
    """Codes (n, 16) with a class (4 classes, argmax of a linear map) and a number (a linear map plus noise)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    w = np.random.default_rng(99).normal(size=(16, 5))
    return x, np.argmax(x @ w[:, :4], axis=1), x @ w[:, 4] + 0.1 * rng.normal(size=n)


def test_probes_recover_a_planted_factor_and_score_chance_on_shuffled_labels():
    train_x, train_c, train_r = planted(600, 0)
    test_x, test_c, test_r = planted(400, 1)
    accuracy = linear_probes.probe_factor(train_x, train_c, test_x, test_c, True, linear_probes.ALL, seeds=(0, 1))
    r2 = linear_probes.probe_factor(train_x, train_r, test_x, test_r, False, linear_probes.ALL, seeds=(0, 1))
    assert min(accuracy) > 0.85 and min(r2) > 0.95
    few = linear_probes.probe_factor(train_x, train_c, test_x, test_c, True, 5, seeds=(0, 1, 2))
    # 5 a class: above chance, below all
    assert linear_probes.chance(test_c, True) + 0.1 < np.mean(few) < np.mean(accuracy)
    shuffled = np.random.default_rng(2).permutation
    accuracy = linear_probes.probe_factor(train_x, shuffled(train_c), test_x, test_c, True, linear_probes.ALL,
                                          seeds=(0, 1))
    r2 = linear_probes.probe_factor(train_x, shuffled(train_r), test_x, test_r, False, linear_probes.ALL, seeds=(0, 1))
    assert max(accuracy) < linear_probes.chance(test_c, True) + 0.08 and max(r2) < 0.05
    # one labelled example of each class: no cross-validation possible, a fixed regularisation instead
    one = linear_probes.labelled_subset(train_c, 1, 0, True)
    assert sorted(train_c[one]) == [0, 1, 2, 3]


def test_the_generators_factors_agree_with_its_frames():
    digits = np.zeros((3, 6, 6), np.float32)
    digits[:, 2, 3] = 1.0  # one lit pixel: row 2, column 3 of the digit's box
    generator = BouncingMNIST(digits, canvas_size=30, num_digits=1, seq_length=12, step_length=0.11, seed=4)
    ids, at = np.arange(50), 7
    frames = generator.sequences(ids)
    got = factors.bouncing_factors(generator, np.array([5, 6, 7]), ids, at, ahead=(3,))
    free = 30 - 6
    for k in ids:
        for when, (x, y) in ((at, (got["digit0_x"][k], got["digit0_y"][k])),
                             (at + 3, (got["digit0_x_ahead3"][k], got["digit0_y_ahead3"][k]))):
            row, col = np.argwhere(frames[k, when] > 0)[0]
            assert (row, col) == (int(free * y) + 2, int(free * x) + 3)
    assert set(got["digit0"]) <= {5, 6, 7}
    np.testing.assert_allclose(got["digit0_speed"], 0.11)  # the original rules: one speed
    # the velocity a digit leaves frame `at` with takes it to frame at + 1 unless it hits an edge
    ys, xs = generator.positions(ids)
    inside = (np.abs(ys[:, 0, at + 1] - ys[:, 0, at] - got["digit0_vy"]) < 1e-9) & (ys[:, 0, at + 1] % 1 != 0)
    assert inside.sum() > 25
    assert list(factors.direction_sector(np.array([0.0, 1, 0, -1, 0.7]), np.array([1.0, 0, -1, 0, 0.7]))) == \
        [0, 2, 4, 6, 1]
    np.testing.assert_array_equal(got["digit0_direction"], factors.direction_sector(got["digit0_vy"],
                                                                                     got["digit0_vx"]))
    # a speed range: speeds drawn within it, and the draws of the original rules unchanged
    ranged = BouncingMNIST(digits, 30, 1, 12, 0.11, seed=4, speed_range=(0.05, 0.2))
    speeds = factors.bouncing_factors(ranged, np.array([5, 6, 7]), ids, at)["digit0_speed"]
    assert 0.05 <= speeds.min() < speeds.max() <= 0.2 and np.ptp(speeds) > 0.05
    np.testing.assert_array_equal(ranged.digit_indices(ids), generator.digit_indices(ids))
    with pytest.raises(ConfigError, match="`ahead` 5 must be in"):
        factors.bouncing_factors(generator, np.array([5, 6, 7]), ids, 7, ahead=(5,))


def test_every_family_has_a_representation_of_the_input_frames():
    rng = np.random.default_rng(0)
    sequences = rng.random((3, 4, 32, 32)).astype(np.float32)
    vae_task = tasks.create(Config("vae", canvas_size=32, digit_size=14, latent_dim=6, filters=(8, 16)))
    vae = vae_task.build_model()
    means = np.asarray(vae.encode(sequences.reshape(12, 32, 32, 1))[0]).reshape(3, 4, 6)
    np.testing.assert_allclose(vae_task.represent(vae, sequences, "code"), means[:, -1], rtol=1e-5, atol=1e-6)
    assert vae_task.represent(vae, sequences, "codes").shape == (3, 24)
    latent = LatentPredictor(vae, units=(5,), input_frames=4, future_frames=2)
    latent.build()
    state = representations.latent(latent, sequences, "state")
    assert state.shape == (3, 10) and representations.LATENT[0] == "state"
    np.testing.assert_allclose(representations.latent(latent, sequences, "h"), state[:, :5], rtol=1e-6)
    composite_task = tasks.create(Config(canvas_size=32, digit_size=14, units=(4, 3), input_frames=4))
    composite = composite_task.build_model()
    assert composite_task.representations() == ["code", "h", "c", "h1", "c1", "h2", "c2"]
    code = composite_task.represent(composite, sequences, "code")
    assert code.shape == (3, 14)
    np.testing.assert_allclose(composite_task.represent(composite, sequences, "c2"), code[:, -3:], rtol=1e-6)
    with pytest.raises(ConfigError, match="`representation` must be one of code, h, c, h1"):
        composite_task.check_representation("bottleneck")
    classifier_task = tasks.create(Config("classifier", data="bouncing_digits", canvas_size=32, units=(4, 3),
                                          num_classes=8))
    classifier = LSTMClassifier(32 * 32, 8, units=(4, 3))
    classifier.build()
    assert classifier_task.representations()[0] == "state"
    state = classifier_task.represent(classifier, sequences, "state")
    _, states = classifier.encoder.run(sequences.reshape(3, 4, -1), classifier.encoder.zero_state(3, "float32"))
    np.testing.assert_allclose(state[:, -3:], np.asarray(states[1][1]), rtol=1e-6)  # the last layer's c
    np.testing.assert_allclose(classifier_task.represent(classifier, sequences, "h1"), state[:, :4], rtol=1e-6)


def test_vidrep_probe_on_a_tiny_run_seen_in_a_running_tensorboard(tiny_config, tmp_path):
    trainer = loop.Trainer(tiny_config.replace(train_steps=3, eval_every=3, image_every=3, export=False,
                                               profile_steps="2,3"))
    final = trainer.train()
    supervised = Config("classifier", model_dir=str(tmp_path / "supervised"), data="bouncing_digits",
                        label="direction", num_classes=8, canvas_size=32, digit_size=14, clip_length=10, units=(16,),
                        batch_size=8, train_steps=2, eval_every=2, val_sequences=8, export=False)
    loop.train(supervised.validate())
    out = tmp_path / "probe"
    run = subprocess.run([os.path.join(BIN, "vidrep-probe"), f"--model_dir={tiny_config.model_dir}",
                          "--train_sequences=80", "--test_sequences=40", "--random_controls=1", "--seeds=0,1",
                          "--labels_per_class=2,all", "--ahead=2", f"--out_dir={out}",
                          f"--supervised_dir={supervised.model_dir}"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads((out / "probe.json").read_text())
    assert result["representation"] == "code" and result["dim"] == 64
    assert {"digit0", "digit0_x", "digit0_vy", "digit0_direction", "digit0_x_ahead2"} <= set(result["factors"])
    assert result["constant"] == ["digit0_speed"]  # one speed under the original rules
    # the supervised state (32 numbers) is probed beside the trained code (64) also reduced to 32; every probe also on
    # its control task (the labels shuffled)
    assert result["dims"]["trained_pca"] == result["dims"]["supervised"] == 32 and result["dims"]["trained"] == 64
    for factor, by in result["scores"].items():
        assert set(by) == {"trained", "random0", "input_last", "input_mean", "supervised", "trained_pca"}
        assert set(result["control_task"][factor]) == set(by)
        assert all(len(seeds) == 2 for seeds in by["trained"].values())
    assert set(result["scores"]["digit0_direction"]["trained"]) == {"2", "0"}  # labels per class: 2 and all
    assert (out / "probe_factors.png").stat().st_size > 5000 and (out / "probe_labels.png").is_file()
    assert "| digit0_x |" in (out / "probe.md").read_text()
    events = list(tf.compat.v1.train.summary_iterator(str(next(out.glob("events.*")))))
    values = {v.tag: tf.make_ndarray(v.tensor) for e in events for v in e.summary.value}
    np.testing.assert_allclose(values["probe/digit0_x/trained"], np.mean(result["scores"]["digit0_x"]["trained"]["0"]),
                               rtol=1e-5)
    assert "probe_labels/digit0_direction/random" in values and "probe/probe_factors" in values
    session = out / "hparams" / "trained_k2_s1"  # one HParams session per representation, labels and seed
    events = [e for f in session.glob("events.*") for e in tf.compat.v1.train.summary_iterator(str(f))]
    values = {v.tag: v for e in events for v in e.summary.value}
    assert "_hparams_/session_start_info" in values
    assert float(tf.make_ndarray(values["probe/digit0_direction"].tensor)) == pytest.approx(
        result["scores"]["digit0_direction"]["trained"]["2"][1])
    assert len(list((out / "hparams").iterdir())) == 6 * 2 * 2  # representations x labels (2, all) x seeds
    header = "| factor | chance | trained | random | input_last | input_mean | supervised | trained_pca |"
    assert header in (out / "probe.md").read_text()
    rows = [line.split("\t") for line in (out / "projector" / "metadata.tsv").read_text().splitlines()]
    assert rows[0][:3] == ["sequence", "digit0", "digit0_x"] and len(rows) == 41  # the 40 held-out sequences
    assert list((tmp_path / "run" / "plugins" / "profile").glob("*/*.xplane.pb"))  # the trace of steps 2-3
    seen_in_tensorboard(tmp_path, final, result)


def seen_in_tensorboard(logdir, final, result):
    """A running TensorBoard on `logdir` serves the run's scalars and pictures, the probe's Projector log directory
    and HParams sessions (and the Profile tab's trace, with the profile plugin installed)."""
    with tensorboard(logdir) as board:
        def enabled(b):  # each plugin says it has data once it has found some
            plugins = {name: v["enabled"] for name, v in b.get("/data/plugins_listing").items()}
            return all(plugins[name] for name in ("scalars", "images", "hparams", "projector")) and plugins

        board.wait_for(lambda b: "probe/projector" in b.get("/data/plugin/projector/runs")
                       and "run/validation" in b.get("/data/plugin/images/tags") and enabled(b))
        values = board.get("/data/plugin/scalars/scalars?run=run/validation&tag=loss/future")
        assert values[-1][1] == 3 and values[-1][2] == pytest.approx(final["future"], rel=1e-5)
        image = board.get("/data/plugin/images/images?run=run/validation&tag=sequences")[-1]
        assert board.get("/data/plugin/images/individualImage?" + image["query"], raw=True)[:4] == b"\x89PNG"

        info = board.get("/data/plugin/projector/info?run=probe/projector")["embeddings"][0]
        assert info["tensorShape"] == [40, 64] and info["sprite"]["singleImageDim"] == [32, 32]
        name = f"run=probe/projector&name={urllib.parse.quote(info['tensorName'])}"
        codes = np.frombuffer(board.get(f"/data/plugin/projector/tensor?{name}", raw=True), np.float32)
        np.testing.assert_array_equal(codes.reshape(40, 64), tf.train.load_variable(
            str(logdir / "probe" / "projector"), info["tensorName"]))
        metadata = board.get(f"/data/plugin/projector/metadata?{name}", raw=True).decode().splitlines()
        assert metadata[0].startswith("sequence\tdigit0\t") and len(metadata) == 41
        assert board.get(f"/data/plugin/projector/sprite_image?{name}", raw=True)[:4] == b"\x89PNG"

        experiment = board.post("/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {"units", "learning_rate", "representation", "labels_per_class"} <= {
            h["name"] for h in experiment["hparamInfos"]}
        metric = {"tag": "probe/digit0_direction", "group": ""}
        groups = board.post("/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_RUNNING"],
            "colParams": [{"metric": metric}, {"metric": {"tag": "loss/future", "group": "validation"}},
                          {"hparam": "representation"}, {"hparam": "units"}], "startIndex": 0, "sliceSize": 100})
        sessions = {s["name"]: s for g in groups["sessionGroups"] for s in g["sessions"]}
        probe = {m["name"]["tag"]: m["value"] for m in sessions["probe/hparams/trained_k2_s1"]["metricValues"]}
        assert probe["probe/digit0_direction"] == pytest.approx(
            result["scores"]["digit0_direction"]["trained"]["2"][1], abs=1e-6)
        run = {m["name"]["tag"]: m["value"] for m in sessions["run"]["metricValues"]}
        assert run["loss/future"] == pytest.approx(final["future"], rel=1e-5)  # the final validation number
        if importlib.util.find_spec("tensorboard_plugin_profile"):  # the optional extra `profile` is installed
            assert any(r.startswith("run/") for r in board.get("/data/plugin/profile/runs"))


def test_every_error_bar_is_the_spread_over_the_probe_seeds():
    """Untrained controls: each seed's score averaged over the initialisations first, then mean ± std over the seeds,
    as for the trained row (not pooled over initialisations and seeds)."""
    result = {"scores": {"digit": {"trained": {0: [0.8, 0.9]}, "random0": {0: [0.5, 0.7]},
                                   "random1": {0: [0.7, 0.9]}}}}
    groups = probe_reports.grouped(result, "digit")
    np.testing.assert_allclose(groups["trained"], (0.85, 0.05))
    np.testing.assert_allclose(groups["random"], (0.7, 0.1))  # seeds' means 0.6 and 0.8; pooled would be ± 0.141


def test_feature_windows_are_probed_for_their_video_and_time(tmp_path):
    import h5py

    from keras_vidrep.analysis import probing
    from keras_vidrep.analysis.probe_data import WindowProbe
    from keras_vidrep.data.frame_file import FeatureFile
    from keras_vidrep.models.composite import CompositeModel

    frames, videos = 40, 4
    values = np.random.default_rng(0).normal(0, 0.01, (videos * frames, 8)).astype(np.float32)
    values[:, 0] += np.tile(np.arange(frames) / frames, videos)
    values[np.arange(videos * frames), 1 + np.repeat(np.arange(videos), frames)] += 1.0
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["features"] = values
        f["video_index"] = np.repeat(np.arange(videos), frames)
        f["frame_number"] = np.tile(np.arange(frames), videos)
        f["videos"] = [f"v{i}.mp4".encode() for i in range(videos)]
    data = WindowProbe(FeatureFile(str(tmp_path / "f.h5")), 3, lambda x: x, max_videos=3)
    # 38 windows a video in blocks of 3: blocks 4 and 9 held out (windows 12-14, 27-29), and no training window within
    # 3 frames of a held-out one (10, 11, 15, 16, 25, 26, 30, 31 left out): 24 training and 6 held-out windows a video.
    assert data.counts == {"train": 3 * 24, "test": 3 * 6}
    rows = {part: {int(r) for s in data.starts[part] for r in range(s, s + 3)} for part in data.starts}
    assert not rows["train"] & rows["test"]  # no frame of a held-out window was seen in training
    test = data.factors("test")
    assert set(test["video"]) == {0, 2, 3} and test["time"].min() >= 0.0 and test["time"].max() <= 1.0
    np.testing.assert_allclose(data.read("test", [0])[0, :, 0], values[12:15, 0])  # video 0's first held-out window
    model = CompositeModel(8, (4,), input_frames=3, future_frames=2, seed=0)
    model.build((None, 3, 8))
    task = tasks.create(Config(units=(4,)))  # a composite model's representations
    result = probing.run_probes(task, model, [], data, labels_per_class=(linear_probes.ALL,), seeds=(0,),
                                log=lambda _: None)
    assert result["factors"] == {"video": "class", "time": "number"}
    assert result["scores"]["video"]["input_last"][0] == [1.0] and result["scores"]["time"]["input_mean"][0][0] > 0.9
    # the control task (labels in a random order) is not learnable from disjoint windows: selectivity stays high
    control = result["control_task"]
    assert control["video"]["input_last"][0] < 0.7 and control["time"]["input_mean"][0] < 0.3
    assert "| video | " in probe_reports.markdown(result, "a run").split("Selectivity")[1]
    only = probing.run_probes(task, model, [], data, labels_per_class=(linear_probes.ALL,), seeds=(0,),
                              log=lambda _: None,
                              only=("time",))
    assert only["factors"] == {"time": "number"} and only["scores"]["time"] == result["scores"]["time"]
    with pytest.raises(ConfigError, match="`factors` speed not among this data's: video, time"):
        probing.run_probes(task, model, [], data, seeds=(0,), log=lambda _: None, only=("speed",))
