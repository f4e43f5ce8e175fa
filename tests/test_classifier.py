"""The fc6 feature format, the LSTM classifier task, starting it from a composite encoder, its SavedModel, backbone
features from a video, and the few-label table — on small files written here."""
import json
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
import tensorflow as tf
from conftest import WITHOUT_PACKAGE, pool_by_video

from keras_vidrep import tasks, trained
from keras_vidrep.config import Config
from keras_vidrep.data import raw_frames
from keras_vidrep.data.fc6 import FeatureClips, read_class_names
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.export import all_endpoints, export_checkpoint
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)


def write_fc6(root, name, num_frames, labels, dim=8, make=None):
    """The original format: <name>.h5 (hidden6), <name>_num_frames.txt, <name>_labels.txt. By default frame f of
    video v has features [v, f, 0, ...], so a clip shows which video and frames it came from."""
    rows = []
    for v, count in enumerate(num_frames):
        block = np.zeros((count, dim), np.float32) if make is None else make(v, count)
        if make is None:
            block[:, 0], block[:, 1] = v, np.arange(count)
        rows.append(block)
    with h5py.File(root / f"{name}.h5", "w") as f:
        f["hidden6"] = np.concatenate(rows)
    (root / f"{name}_num_frames.txt").write_text("".join(f"{n}\n" for n in num_frames))
    (root / f"{name}_labels.txt").write_text("".join(f"{label}\n" for label in labels))
    return [str(root / f"{name}{suffix}") for suffix in (".h5", "_num_frames.txt", "_labels.txt")]


def test_clips_are_windows_inside_one_video(tmp_path):
    files = write_fc6(tmp_path, "train", [20, 17, 10], [3, 1, 2])
    clips = FeatureClips(*files, clip_length=16)
    assert len(clips) == 5 + 2  # the 10-frame video is shorter than a clip
    features, labels = clips.clips(np.arange(len(clips)))
    assert features.shape == (7, 16, 8)
    for clip, label in zip(features, labels):
        assert len(set(clip[:, 0])) == 1  # never across videos
        np.testing.assert_array_equal(np.diff(clip[:, 1]), 1)  # consecutive frames
        assert label == [3, 1, 2][int(clip[0, 0])]
    assert sorted(features[:, 0, 1].tolist()) == [0, 0, 1, 1, 2, 3, 4]
    assert len(FeatureClips(*files, clip_length=16, stride=4)) == 2 + 1


def test_video_pooling_by_hand():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.6, 0.4]])
    ids, pooled = pool_by_video(probabilities, np.array([5, 5, 7, 7]))
    assert ids.tolist() == [5, 7]
    np.testing.assert_allclose(pooled, [[0.55, 0.45], [0.5, 0.5]])


def test_bad_feature_files_are_one_clear_error(tmp_path):
    files = write_fc6(tmp_path, "ok", [20, 17], [0, 1])
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["fc7"] = np.zeros((37, 8), np.float32)
    with pytest.raises(DataError, match=r"other.h5: no dataset 'hidden6' \(has fc7\)"):
        FeatureClips(str(tmp_path / "other.h5"), files[1], files[2])
    (tmp_path / "three_labels.txt").write_text("0\n1\n1\n")
    with pytest.raises(DataError, match="ok_num_frames.txt lists 2 videos but .*three_labels.txt has 3 labels"):
        FeatureClips(files[0], files[1], str(tmp_path / "three_labels.txt"))
    (tmp_path / "wrong_counts.txt").write_text("20\n16\n")
    with pytest.raises(DataError, match="wrong_counts.txt adds up to 36 frames but .*ok.h5:hidden6 holds 37"):
        FeatureClips(files[0], str(tmp_path / "wrong_counts.txt"), files[2])
    for args, message in (([f"--data_file={tmp_path / 'other.h5'}"], "no dataset 'hidden6' (has fc7)"),
                          ([f"--labels_file={tmp_path / 'three_labels.txt'}"], "lists 2 videos but")):
        result = subprocess.run(
            [os.path.join(BIN, "vidrep-train"), "--task=classifier", "--model_dir=m", "--feature_dim=8",
             f"--data_file={files[0]}", f"--num_frames_file={files[1]}", f"--labels_file={files[2]}",
             f"--val_data_file={files[0]}", f"--val_num_frames_file={files[1]}", f"--val_labels_file={files[2]}",
             *args], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("vidrep-train: error:") and message in last, last
        assert not (tmp_path / "m").exists()


def separable(split_seed):
    """Class c's frames are noise around the unit vector e_c."""
    rng = np.random.default_rng(split_seed)

    def make(video, count):
        return (np.eye(8, dtype=np.float32)[video % 3] + 0.3 * rng.normal(size=(count, 8))).astype(np.float32)
    return make


@pytest.fixture(scope="module")
def trained_classifier(tmp_path_factory):
    root = tmp_path_factory.mktemp("classifier")
    train = write_fc6(root, "train", [12, 10, 11, 9, 12, 10], [0, 1, 2, 0, 1, 2], make=separable(0))
    (root / "train_classes.txt").write_text("Walk\nRun\nJump\n")  # as vidrep-preprocess writes it
    valid = write_fc6(root, "valid", [10, 9, 11], [0, 1, 2], make=separable(1))
    config = Config("classifier", model_dir=str(root / "run"), data_file=train[0], num_frames_file=train[1],
                    labels_file=train[2], val_data_file=valid[0], val_num_frames_file=valid[1],
                    val_labels_file=valid[2], clip_length=8, feature_dim=8, num_classes=3, units=(16,),
                    batch_size=8, train_steps=80, learning_rate=1e-2, eval_every=40, checkpoint_every=40,
                    summary_every=20, image_every=80).validate()
    trainer = loop.Trainer(config)
    return root, config, trainer, trainer.train()


def test_classifier_learns_a_separable_problem_and_keeps_the_best(trained_classifier):
    _, config, trainer, val = trained_classifier
    assert val["clip_accuracy"] == 1.0 and val["video_accuracy"] == 1.0, val
    from test_tasks import scalars

    logged = scalars(os.path.join(config.model_dir, "validation"))
    assert logged["accuracy/video_accuracy"][-1] == 1.0 and len(logged["accuracy/clip_accuracy"]) == 2
    assert "loss/cross_entropy" in logged and "loss/cross_entropy" in scalars(os.path.join(config.model_dir, "train"))
    record = json.loads(open(os.path.join(config.model_dir, "best", "best.json")).read())
    assert record["metric"] == "video_accuracy" and record["value"] == 1.0 and record["step"] in (40, 80)

    best, _, path = trained.restore_model(config.model_dir, best=True)
    assert path.endswith(f"best/ckpt-{record['step']}")


LOADER = WITHOUT_PACKAGE + textwrap.dedent("""
    import numpy as np, tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    clips = tf.constant(np.load(sys.argv[2]))
    def plain(v):  # strings as str
        return np.vectorize(bytes.decode)(v.numpy()) if v.dtype == tf.string else v.numpy()
    out = {"clip/" + k: plain(v) for k, v in loaded.signatures["classify"](clips=clips).items()}
    out.update({"video/" + k: plain(v) for k, v in loaded.signatures["classify_video"](clips=clips).items()})
    np.savez(sys.argv[3], **out)
""")


def test_classify_savedmodel_without_the_package(trained_classifier, tmp_path):
    _, config, trainer, _ = trained_classifier
    clips = np.random.default_rng(2).normal(size=(5, 8, 8)).astype(np.float32)
    np.save(tmp_path / "clips.npy", clips)
    (tmp_path / "load.py").write_text(LOADER)
    result = subprocess.run([sys.executable, str(tmp_path / "load.py"), os.path.join(config.model_dir, "export"),
                             str(tmp_path / "clips.npy"), str(tmp_path / "out.npz")], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    expected = trainer.model(clips)
    np.testing.assert_allclose(out["clip/probabilities"], np.asarray(expected["clip"]), rtol=1e-5, atol=1e-6)
    assert out["clip/per_step"].shape == (5, 8, 3)
    np.testing.assert_allclose(out["video/video_probabilities"], out["clip/probabilities"].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(out["video/clip_probabilities"], out["clip/probabilities"], rtol=1e-6)
    names = np.array(["Walk", "Run", "Jump"])  # the training labels' names, returned beside the indices
    np.testing.assert_array_equal(out["clip/class"], out["clip/probabilities"].argmax(-1))
    np.testing.assert_array_equal(out["clip/class_name"], names[out["clip/class"]])
    assert out["video/video_class_name"] == names[out["video/video_probabilities"].argmax()]
    np.testing.assert_array_equal(out["video/clip_class_name"], out["clip/class_name"])


def test_class_names_are_kept_in_the_run_and_its_export(trained_classifier, tmp_path):
    root, config, _, _ = trained_classifier
    assert open(os.path.join(config.model_dir, "class_names.txt")).read() == "Walk\nRun\nJump\n"
    assert open(os.path.join(config.model_dir, "export", "assets", "class_names.txt")).read() == "Walk\nRun\nJump\n"
    os.rename(root / "train_classes.txt", root / "moved.txt")  # the labels' files moved: the run still knows
    try:
        path = export_checkpoint(config.model_dir, str(tmp_path / "again"))
    finally:
        os.rename(root / "moved.txt", root / "train_classes.txt")
    assert open(os.path.join(path, "assets", "class_names.txt")).read() == "Walk\nRun\nJump\n"


def test_class_names_from_a_file_or_the_labels(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 ApplyEyeMakeup\n3 Archery\n2 ApplyLipstick\n")
    assert read_class_names(str(tmp_path / "classInd.txt"), 3) == ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]
    (tmp_path / "names.txt").write_text("a b\nc\n")
    assert read_class_names(str(tmp_path / "names.txt"), 2) == ["a b", "c"]
    with pytest.raises(DataError, match="names 2 classes, but `num_classes` is 3"):
        read_class_names(str(tmp_path / "names.txt"), 3)
    generated = dict(data="bouncing_digits", canvas_size=32, digit_size=14, clip_length=4, units=(4,))
    assert tasks.create(Config("classifier", label="direction", num_classes=8, **generated)).class_names()[:3] == \
        ["right", "down-right", "down"]
    assert tasks.create(Config("classifier", num_classes=10, **generated)).class_names() == [str(k) for k in range(10)]
    assert tasks.create(Config("classifier", label="speed", speed_spread=0.5, num_classes=2, **generated)
                        ).class_names() == ["speed 0.050-0.100", "speed 0.100-0.150"]
    assert tasks.create(Config("classifier", num_classes=3, feature_dim=8)).class_names() == ["0", "1", "2"]


def test_start_from_a_composite_encoder(tmp_path):
    composite_dir = str(tmp_path / "composite")
    loop.train(Config(model_dir=composite_dir, canvas_size=32, digit_size=14, units=(16,), batch_size=4,
                      train_steps=3, num_digits=1, val_sequences=4, export=False, checkpoint_every=3).validate())

    pretrained, _, _ = trained.restore_model(composite_dir)
    common = dict(data="bouncing_digits", num_classes=10, clip_length=10, canvas_size=32, digit_size=14,
                  units=(16,), batch_size=4, train_steps=4, val_sequences=8, labels_per_class=1, export=False,
                  eval_every=4, checkpoint_every=4, seed=3)
    frozen = loop.Trainer(Config("classifier", model_dir=str(tmp_path / "frozen"), init_from=composite_dir,
                                 freeze_encoder=True, **common).validate())
    for got, want in zip(frozen.model.encoder.weights, pretrained.encoder.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))  # exactly the encoder's weights
    readout = np.asarray(frozen.model.readout.kernel).copy()
    frozen.train()
    for got, want in zip(frozen.model.encoder.weights, pretrained.encoder.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))  # frozen: unchanged by training
    assert not np.array_equal(np.asarray(frozen.model.readout.kernel), readout)

    checkpoint = os.path.join(composite_dir, "checkpoints", "ckpt-3")
    slow = loop.Trainer(Config("classifier", model_dir=str(tmp_path / "slow"), init_from=checkpoint,
                               encoder_learning_rate_scale=0.1, **common).validate())
    variables = slow.model.trainable_variables
    rates = {float(opt.learning_rate): {variables[i].path for i in indices} for opt, indices in slow.optimizer_groups}
    assert sorted(rates) == pytest.approx([1e-4, 1e-3])
    slow_group = next(paths for rate, paths in rates.items() if rate == pytest.approx(1e-4))
    assert slow_group == {v.path for v in slow.model.encoder.trainable_variables}  # the encoder, and only it
    slow.train()
    moved = [np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in zip(slow.model.encoder.weights,
                                                                          pretrained.encoder.weights)]
    assert max(moved) > 0  # trained, at the lower rate
    with pytest.raises(ConfigError, match="do not fit the classifier's"):
        loop.Trainer(Config("classifier", model_dir=str(tmp_path / "bad"), init_from=composite_dir,
                            **{**common, "units": (8,)}).validate())
    assert not os.path.exists(tmp_path / "bad")  # a run that never started leaves nothing


def test_backbone_features_from_a_video(tmp_path):
    from test_patches import write_video

    for name, frames in (("Jump/a.avi", 6), ("Run/b.avi", 5)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        write_video(tmp_path / name, frames=frames)
    result = subprocess.run([os.path.join(BIN, "vidrep-preprocess"), f"--videos={tmp_path}", "--output=f.h5",
                             "--kind=features", "--backbone=vgg16_fc6", "--weights=random"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert f["hidden6"].shape == (11, 4096) and f.attrs["backbone"] == "vgg16_fc6"
        assert (f["hidden6"][()] >= 0).all() and f["hidden6"][()].std() > 0  # fc6 after its ReLU
    assert (tmp_path / "f_num_frames.txt").read_text() == "6\n5\n"
    assert (tmp_path / "f_labels.txt").read_text() == "0\n1\n"
    assert (tmp_path / "f_classes.txt").read_text() == "Jump\nRun\n"
    clips = FeatureClips(str(tmp_path / "f.h5"), str(tmp_path / "f_num_frames.txt"),
                         str(tmp_path / "f_labels.txt"), clip_length=4)
    assert len(clips) == 3 + 2 and clips.feature_dim == 4096


def test_fewlabel_table():
    from keras_vidrep.analysis.fewlabel import fewlabel_table

    runs = {f"{init}_k{k}_s{s}": value for k in (1, 5) for s in (0, 1, 2)
            for init, value in (("scratch", 0.1 + 0.01 * s), ("pretrained", 0.2 + 0.01 * s))}
    lines = fewlabel_table(runs, [1, 5], [0, 1, 2]).splitlines()
    assert lines[2] == "| 1 | 11.0 ± 1.0 % | 21.0 ± 1.0 % | 10.0 ± 0.0 % |"


def test_fewlabel_table_and_picture_of_three_initialisations_and_all_labels(tmp_path):
    from keras_vidrep.analysis.fewlabel import fewlabel_picture, fewlabel_table

    inits = ("scratch", "finetune", "frozen")
    runs = {f"{init}_k{k}_s{s}": 0.1 * (j + 1) + 0.01 * s + 0.001 * k for k in (1, 0) for s in (0, 1)
            for j, init in enumerate(inits)}
    lines = fewlabel_table(runs, [1, 0], [0, 1], inits).splitlines()
    assert lines[0].count("|") == 7 and "pretrained, frozen (linear head) − scratch" in lines[0]
    assert lines[2] == "| 1 | 10.6 ± 0.7 % | 20.6 ± 0.7 % | 30.6 ± 0.7 % | 10.0 ± 0.0 % | 20.0 ± 0.0 % |"
    assert lines[3].startswith("| all (a fresh sequence every step) | 10.5 ± 0.7 % |")
    path = fewlabel_picture(runs, [1, 0], [0, 1], inits, 0.125, str(tmp_path / "f.png"), "direction")
    assert os.path.getsize(path) > 5000


def test_fewlabel_classifiers_read_the_digit_files_of_the_pretrained_run(tmp_path):
    """A pretrained run on real MNIST files (`digits_path`) hands its digit file to every classifier: without it
    they would read other digits (or fail to find Keras's cache)."""
    from keras_vidrep.analysis.fewlabel import pretrain
    from keras_vidrep.analysis.options import FewLabelOptions
    from keras_vidrep.config import Config
    from keras_vidrep.errors import ConfigError

    digits = tmp_path / "mnist.h5"
    digits.write_bytes(b"")  # pretrain() reads the run's settings, not the file
    (tmp_path / "run").mkdir()
    (tmp_path / "gen").mkdir()
    Config("composite", model_dir=str(tmp_path / "run"), digits="mnist_h5", digits_path=str(digits),
           units=(32,)).save(str(tmp_path / "run"))
    _, _, flags = pretrain(FewLabelOptions(pretrained_dir=str(tmp_path / "run")))
    assert "--digits=mnist_h5" in flags and f"--digits_path={digits}" in flags
    Config("composite", model_dir=str(tmp_path / "gen"), units=(32,)).save(str(tmp_path / "gen"))
    _, _, flags = pretrain(FewLabelOptions(pretrained_dir=str(tmp_path / "gen")))
    assert not any(f.startswith("--digits_path") for f in flags)
    with pytest.raises(ConfigError, match="cannot be given with `pretrained_dir`"):
        FewLabelOptions(pretrained_dir=str(tmp_path / "gen"), digits="mnist_h5").validate()
    with pytest.raises(ConfigError, match="`digits_path` '.*mnist.h5' is read only with"):
        FewLabelOptions(digits_path=str(digits)).validate()
    FewLabelOptions(digits="mnist_h5", digits_path=str(digits)).validate()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Keras warns about each layer of the mismatched file
def test_backbone_weights_from_a_local_file(tmp_path):
    from keras_vidrep.data.backbone import Backbone

    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 48, 3), dtype=np.uint8)
    first = Backbone("resnet50", "random")
    first.model.save_weights(str(tmp_path / "resnet.weights.h5"))
    again = Backbone("resnet50", str(tmp_path / "resnet.weights.h5"))
    assert again.dim == 2048
    np.testing.assert_allclose(again(frames), first(frames), rtol=1e-4, atol=1e-4)
    with pytest.raises(ConfigError, match="no such file"):
        Backbone("resnet50", str(tmp_path / "absent.h5"))
    with pytest.raises(ConfigError, match="`weights`=.*vgg.weights.h5 for `backbone`=vgg16_fc6 could not be loaded"):
        (tmp_path / "vgg.weights.h5").write_bytes((tmp_path / "resnet.weights.h5").read_bytes())
        Backbone("vgg16_fc6", str(tmp_path / "vgg.weights.h5"))


def test_motion_labels_of_one_digit_sequences():
    from keras_vidrep.data import factors
    from keras_vidrep.data.labelled_digits import LabelledDigitStream, sequence_labels

    base = dict(task="classifier", data="bouncing_digits", canvas_size=32, digit_size=14, clip_length=5, units=(8,))
    config = Config(**base, label="direction", num_classes=8, labels_per_class=2, seed=1)
    stream = LabelledDigitStream(config.settings, 1)
    assert stream.fixed == 16 and len(set(stream.sample_ids)) == 16
    clips, labels = stream.batch(0, 16)
    assert sorted(labels) == sorted(list(range(8)) * 2)  # two of each direction, every pass
    _, _, v_y, v_x = stream.generator.trajectories(stream.sample_ids)
    assert sorted(factors.direction_sector(v_y[:, 0, -1], v_x[:, 0, -1])) == sorted(labels)
    speed = Config(**base, label="speed", num_classes=4, speed_spread=0.5, labels_per_class=3, seed=2)
    stream = LabelledDigitStream(speed.settings, 2)
    clips, labels = stream.batch(0, 12)
    assert sorted(labels) == sorted(list(range(4)) * 3)
    _, _, v_y, v_x = stream.generator.trajectories(stream.sample_ids)
    speeds = np.hypot(v_y[:, 0, -1], v_x[:, 0, -1])
    bins = sequence_labels(speed.settings, stream.generator, stream.labels, stream.sample_ids)
    assert np.all(np.diff(bins[np.argsort(speeds)]) >= 0)  # a faster sequence is never in a slower bin
    assert speeds.min() >= 0.05 and speeds.max() <= 0.15
    for values, message in ((dict(label="direction", num_classes=10), "`label`=direction has 8 classes"),
                            (dict(label="speed", num_classes=4), "`label`=speed needs `speed_spread` > 0"),
                            (dict(label="speed", num_classes=4, speed_spread=1.5), "`speed_spread` must be in")):
        with pytest.raises(ConfigError, match=message):
            Config(**base, **values).validate()
    with pytest.raises(ConfigError, match="`label`=direction is a class of generated sequences"):
        Config(task="classifier", data="fc6", label="direction").validate()


def test_a_classifier_of_generated_digits_names_the_classes_of_raw_video():
    """classify_video_frames: a video as decoded (uint8 RGB, any size) → every clip's and the video's class by name,
    the model's on the frames prepared as its digits were drawn (grey, the centred square, the canvas' size)."""
    task = tasks.create(Config("classifier", data="bouncing_digits", num_classes=10, clip_length=10, canvas_size=32,
                               digit_size=14, units=(8,)))
    model = task.build_model()
    endpoint = next(e for e in all_endpoints(model, task) if e.name == "classify_video_frames")
    video = np.random.default_rng(0).integers(0, 256, (1, 13, 40, 48, 3), dtype=np.uint8)
    out = endpoint.fn(tf.constant(video), tf.constant(2))
    frames = np.asarray(raw_frames.prepare(video, task.video_input()))[0]  # (13, 32, 32) grey
    want = np.stack([np.asarray(model(frames[None, s:s + 10].reshape(1, 10, -1))["per_step"]).mean(axis=1)[0]
                     for s in (0, 2)])
    np.testing.assert_allclose(out["clip_probabilities"][0], want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["video_probabilities"][0], want.mean(axis=0), rtol=1e-4, atol=1e-6)
    names = task.class_names()
    assert [n.decode() for n in out["clip_class_name"].numpy()[0]] == [names[k] for k in want.argmax(axis=1)]
    assert out["video_class_name"].numpy()[0].decode() == names[want.mean(axis=0).argmax()]
