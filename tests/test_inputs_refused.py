"""Inputs are checked, never silently rewritten, and outputs never mixed: a bad file, flag or value is one line that
names it (and what to do), before anything is written; nothing is left behind."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from keras_vidrep.config import Config
from keras_vidrep.data import preprocess
from keras_vidrep.errors import ConfigError, DataError
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)


def frames_npy(path, values):
    np.save(path, values)
    return str(path)


def vae_config(tmp_path, data_file, **changes):
    return Config("vae", model_dir=str(tmp_path / "run"), data="frames", data_file=data_file, frame_size=16,
                  channels=1, latent_dim=4, filters=(4,), batch_size=4, train_steps=2, val_frames=4, export=False,
                  **changes)


@pytest.mark.parametrize("bad, message", [
    (lambda f: f.__setitem__((7, 3, 2), np.nan), r"frame value nan at index \(7, 3, 2\): NaN and Inf are refused"),
    (lambda f: f.__setitem__((9, 0, 1), np.inf), r"frame value inf at index \(9, 0, 1\)"),
    (lambda f: f.__imul__(255.0), r"frame value \d+(\.\d+)? at index .*: float frames must lie in \[0, 1\]; these "
                                  r"look like 0..255 pixels: divide by 255, or store uint8"),
])
def test_bad_float_frames_are_refused_before_anything_is_written(tmp_path, bad, message):
    frames = np.random.default_rng(0).random((12, 16, 16), dtype=np.float32) * 0.5 + 0.25
    bad(frames)
    path = frames_npy(tmp_path / "frames.npy", frames)
    with pytest.raises(DataError, match=f"{path}: " + message):
        loop.Trainer(vae_config(tmp_path, path).validate())
    assert not os.path.exists(tmp_path / "run")


def test_good_float_frames_are_read_unchanged(tmp_path):
    from keras_vidrep.data.frame_file import FrameFile

    frames = np.round(np.random.default_rng(1).random((5, 8, 8)) * 255).astype(np.float32) / 255.0
    frames[0, 0, 0], frames[1, 1, 1] = 0.0, 1.0  # the ends of the range are fine
    read = FrameFile(frames_npy(tmp_path / "f.npy", frames), channels=1).read(np.arange(5))[..., 0]
    np.testing.assert_allclose(read, frames, atol=1e-6)


def fc6_files(tmp_path, counts, nan_at=None):
    rng = np.random.default_rng(2)
    features = rng.random((sum(counts), 6), dtype=np.float32)
    if nan_at is not None:
        features[nan_at] = np.nan
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f["hidden6"] = features
    (tmp_path / "n.txt").write_text("".join(f"{c}\n" for c in counts))
    (tmp_path / "l.txt").write_text("".join(f"{i % 3}\n" for i in range(len(counts))))
    return dict(data_file=str(tmp_path / "train.h5"), num_frames_file=str(tmp_path / "n.txt"),
                labels_file=str(tmp_path / "l.txt"), val_data_file=str(tmp_path / "train.h5"),
                val_num_frames_file=str(tmp_path / "n.txt"), val_labels_file=str(tmp_path / "l.txt"))


def fc6_config(tmp_path, files):
    return Config("classifier", model_dir=str(tmp_path / "run"), feature_dim=6, num_classes=3, clip_length=4,
                  units=(8,), batch_size=4, train_steps=2, export=False, **files)


def test_classifier_features_with_a_nan_row_are_refused(tmp_path):
    config = fc6_config(tmp_path, fc6_files(tmp_path, [10, 12, 9], nan_at=(15, 4)))
    with pytest.raises(DataError, match=r"train.h5:hidden6: feature value nan at index \(15, 4\)"):
        loop.Trainer(config.validate())
    assert not os.path.exists(tmp_path / "run")


def test_videos_shorter_than_a_clip_count_in_the_video_accuracy(tmp_path):
    config = fc6_config(tmp_path, fc6_files(tmp_path, [10, 3, 9, 12]))  # video 1 has no 4-frame clip
    trainer = loop.Trainer(config.validate())
    trainer.close()
    clips, labels, videos = (np.concatenate(part) for part in zip(*trainer.validation_set.batches(5)))
    assert set(videos.tolist()) == {0, 2, 3}
    right = np.eye(3)[labels]  # a perfect classifier of every clip ...
    summary = trainer.task.validation_summary()
    summary.add({"probabilities": right, "labels": labels, "videos": videos, "cross_entropy": np.zeros(len(labels))})
    values = trainer.task.summarize_validation(summary)
    assert values["clip_accuracy"] == 1.0 and values["video_accuracy"] == pytest.approx(3 / 4)  # ... misses video 1


@pytest.mark.parametrize("task, changes, flag", [
    ("composite", {"data_file": "x.npy"}, "data_file"),  # data=bouncing_mnist generates its digits
    ("composite", {"val_path": "v.npy"}, "val_path"),  # val_dataset=generated
    ("composite", {"digits_path": "mnist.h5"}, "digits_path"),  # digits=sklearn are bundled
    ("vae", {"data_file": "frames.h5"}, "data_file"),
    ("classifier", {"data": "bouncing_digits", "num_classes": 10, "labels_file": "l.txt"}, "labels_file"),
    ("classifier", {"digits_path": "mnist.npz"}, "digits_path"),  # data=fc6 reads no digits
])
def test_a_file_flag_the_run_does_not_read_is_refused(task, changes, flag):
    with pytest.raises(ConfigError, match=f"`{flag}` .* is not read with"):
        Config(task, model_dir="unused", **changes).validate()


def test_init_from_is_checked_before_anything_is_written(tmp_path):
    common = dict(data="bouncing_digits", num_classes=10, clip_length=6, canvas_size=32, digit_size=14, units=(8,),
                  batch_size=4, train_steps=1, val_sequences=4, export=False)
    missing = str(tmp_path / "no_such_run")
    with pytest.raises(ConfigError, match=f"`init_from` '{missing}': no such model directory or checkpoint"):
        loop.Trainer(Config("classifier", model_dir=str(tmp_path / "a"), init_from=missing, **common).validate())
    vae_dir = tmp_path / "vae_run"
    vae_dir.mkdir()
    Config("vae").save(str(vae_dir))
    with pytest.raises(ConfigError, match="holds a run of task 'vae'; the classifier starts from the encoder of a "
                                          "composite run"):
        loop.Trainer(Config("classifier", model_dir=str(tmp_path / "b"), init_from=str(vae_dir), **common).validate())
    standardized = tmp_path / "features_run"
    standardized.mkdir()
    Config("composite", data="video_features", data_file="f.h5", output="linear").save(str(standardized))
    with pytest.raises(ConfigError, match="trained on standardized features"):
        loop.Trainer(Config("classifier", model_dir=str(tmp_path / "c"), init_from=str(standardized),
                            **common).validate())
    existing = tmp_path / "d"
    existing.mkdir()
    with pytest.raises(ConfigError, match="no such model directory"):
        loop.Trainer(Config("classifier", model_dir=str(existing), init_from=missing, **common).validate())
    assert not os.path.exists(tmp_path / "a") and not os.path.exists(tmp_path / "b")
    assert os.listdir(existing) == []  # a folder that was there stays, and stays empty


class FakeBackbone:
    """Stands in for a keras.applications network: constant features that name the network."""
    name, dim = "fake", 3

    def __init__(self, identity):
        self.identity = identity

    def __call__(self, frames):
        return np.full((len(frames), self.dim), float(len(self.identity)), np.float32)


def test_features_are_never_mixed_and_never_written_into_another_file(tmp_path):
    from test_patches import write_video

    video = str(write_video(tmp_path / "a.avi", frames=4))
    output = str(tmp_path / "features.h5")
    preprocess.write_video_features([video], output, FakeBackbone("random (seed 0)"), 1,
                                    {"weights": "random (seed 0)"})
    with pytest.raises(DataError, match=r"holds features with weights='random \(seed 0\)', not 'random \(seed 1\)'"):
        preprocess.write_video_features([video], output, FakeBackbone("random (seed 1)"), 1,
                                        {"weights": "random (seed 1)"})
    frames = tmp_path / "frames.h5"
    with h5py.File(frames, "w") as f:
        f["frames"] = np.zeros((2, 4, 4, 3), np.uint8)
    before = frames.read_bytes()
    with pytest.raises(DataError, match="is not a features file of vidrep-features .*it is left as it is"):
        preprocess.write_video_features([video], str(frames), FakeBackbone("x"), 1, {"weights": "x"})
    assert frames.read_bytes() == before


def test_random_backbone_weights_are_seeded():
    from keras_vidrep.data.backbone import Backbone

    frames = np.random.default_rng(3).integers(0, 255, (2, 40, 48, 3), dtype=np.uint8)
    a, b = Backbone("resnet50", "none", seed=4), Backbone("resnet50", "none", seed=4)
    assert a.identity == "random (seed 4)"
    np.testing.assert_allclose(a(frames), b(frames), rtol=1e-5, atol=1e-6)


def run_tool(tool, *args, cwd):
    return subprocess.run([os.path.join(BIN, tool), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_bad_paths_are_one_line_with_nothing_left_behind(tmp_path):
    from test_patches import write_video

    write_video(tmp_path / "a.avi", frames=4)
    (tmp_path / "folder").mkdir()
    (tmp_path / "text.h5").write_text("not hdf5\n")
    with h5py.File(tmp_path / "frames.h5", "w") as f:
        f["frames"] = np.zeros((2, 4, 4, 3), np.uint8)
    features = np.random.default_rng(6).random((6, 5, 3)).astype(np.float32)
    features[4, 2, 1] = np.nan
    np.save(tmp_path / "seqs.npy", features)
    cases = [
        ("vidrep-preprocess", ["--videos=a.avi", "--output=folder"], "`output` 'folder' is a folder"),
        ("vidrep-features", ["--videos=a.avi", "--output=text.h5", "--weights=none"],
         "`output` 'text.h5' exists and is not a readable HDF5 file"),
        ("vidrep-features", ["--videos=a.avi", "--output=frames.h5", "--weights=none"],
         "is not a features file of vidrep-features"),
        ("vidrep-embed", ["--model_dir=folder", "--data_file=frames.h5", "--output=/proc/c.h5"],
         "`output` '/proc/c.h5' cannot be written"),
        ("vidrep-embed", ["--model_dir=folder", "--data_file=frames.h5", "--output=folder"], "must end in"),
        ("vidrep-train", ["--data=features", "--data_file=seqs.npy", "--feature_dim=3", "--seq_length=5",
                          "--input_frames=3", "--future_frames=2", "--output=linear", "--val_dataset=features",
                          "--val_path=seqs.npy", "--units=4", "--model_dir=run"],
         "seqs.npy: feature value nan at index (4, 2, 1)"),
    ]
    for tool, args, message in cases:
        result = run_tool(tool, *args, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and "Traceback" not in result.stderr, (tool, args, result.stderr[-3000:])
        assert lines[-1].startswith(f"{tool}: error: ") and message in lines[-1], (tool, args, lines[-1])
    assert (tmp_path / "frames.h5").stat().st_size and (tmp_path / "text.h5").read_text() == "not hdf5\n"
    leftovers = {"run", "folder.tmp", "c.h5"} & set(os.listdir(tmp_path))
    assert not leftovers and os.listdir(tmp_path / "folder") == []


def test_the_commands_that_chain_others_refuse_bad_flags_in_one_line(tmp_path):
    """vidrep-fewlabel, vidrep-launch and vidrep-probe run through the same runner as the others: a bad flag value
    is one line and exit code 2, before anything is written."""
    cases = [("vidrep-fewlabel", ["--labels_per_class=1,x", "--out_dir=few"], "`labels_per_class` takes positive"),
             ("vidrep-launch", ["--workers=0"], "`workers` must be a positive integer, got 0"),
             ("vidrep-probe", ["--train_sequences=10"], "`model_dir` is required")]
    for tool, args, message in cases:
        result = run_tool(tool, *args, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and "Traceback" not in result.stderr, (tool, args, result.stderr[-3000:])
        assert lines[-1].startswith(f"{tool}: error: ") and message in lines[-1], (tool, lines[-1])
    assert os.listdir(tmp_path) == []


# Runs a command's entry point in an interpreter where importing TensorFlow or Keras fails: a refusal that comes
# before TensorFlow loads is the command's one line; one that comes after is an ImportError.
WITHOUT_TENSORFLOW = """
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras"):
            raise ImportError(name + " was imported before the flags were checked")
sys.meta_path.insert(0, Block())
module, sys.argv = sys.argv[1], sys.argv[2:]
importlib.import_module(module).run()
"""


def test_bad_flag_values_are_refused_before_tensorflow_loads(tmp_path):
    cases = [("keras_vidrep.cli.probe", "vidrep-probe", ["--train_sequences=10"], "`model_dir` is required"),
             ("keras_vidrep.cli.fewlabel", "vidrep-fewlabel", ["--labels_per_class=1,x"], "`labels_per_class`"),
             ("keras_vidrep.cli.launch", "vidrep-launch", ["--workers=0"], "`workers` must be a positive integer"),
             ("keras_vidrep.cli.evaluate", "vidrep-eval", ["--num_sequences=0"], "`num_sequences`"),
             ("keras_vidrep.cli.features", "vidrep-features", ["--videos=a.avi"], "`output` is required"),
             ("keras_vidrep.cli.preprocess", "vidrep-preprocess", ["--output=x.h5"], "give exactly one of")]
    for module, tool, args, message in cases:
        result = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, module, tool, *args], capture_output=True,
                                text=True, cwd=tmp_path, timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and "Traceback" not in result.stderr, (tool, result.stderr[-3000:])
        assert lines[-1].startswith(f"{tool}: error: ") and message in lines[-1], (tool, lines[-1])
    assert os.listdir(tmp_path) == []


def test_a_bad_codes_file_is_refused_before_tensorflow_loads(tmp_path):
    """vidrep-viz --codes reads and checks the codes, and its options against them, before TensorFlow loads (only
    the learning curve reads TensorBoard logs with it): each refusal is one line, and no maps folder is made."""
    (tmp_path / "codes.npy").write_text("not numpy\n")
    codes = np.random.default_rng(4).random((24, 3))
    codes[5, 1] = np.nan
    np.save(tmp_path / "nan_codes.npy", codes)
    np.save(tmp_path / "good_codes.npy", np.random.default_rng(5).random((24, 3)))
    with h5py.File(tmp_path / "videos.h5", "w") as f:  # as vidrep-embed writes them: 3 videos of 4 windows
        f["codes"] = np.random.default_rng(6).random((12, 3))
        f["video_index"] = np.repeat(np.arange(3), 4)
        f["videos"] = [b"a.avi", b"b.avi", b"c.avi"]
    (tmp_path / "labels.txt").write_text("walk\nrest\n")
    cases = [(["--codes=codes.npy"], "`codes` 'codes.npy' is not a readable .npy file"),
             (["--codes=nan_codes.npy"], "nan_codes.npy: code value nan at index (5, 1)"),
             (["--codes=good_codes.npy", "--perplexities=5,500"],
              "`perplexities` must be above 0 and below the number of codes (24), got 500"),
             (["--codes=good_codes.npy", "--perplexities=5", "--clusters=30"],
              "`clusters` must be between 2 and the number of codes (24), got 30"),
             (["--codes=videos.h5", "--perplexities=5", "--labels_file=labels.txt"],
              "`labels_file` 'labels.txt' has 2 labels for 3 videos")]
    for args, message in cases:
        result = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, "keras_vidrep.cli.viz", "vidrep-viz",
                                 *args, "--out_dir=maps"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and "Traceback" not in result.stderr, (args, result.stderr[-3000:])
        assert lines[-1].startswith("vidrep-viz: error: ") and message in lines[-1], (args, lines[-1])
    assert not os.path.exists(tmp_path / "maps")


def test_a_missing_data_file_names_the_command_that_makes_it(tmp_path):
    config = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "ucf_patches.cfg")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it
    result = subprocess.run([os.path.join(BIN, "vidrep-train"), f"--flagfile={config}", "--model_dir=run"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "vidrep-train: error: `data_file` 'data/ucf101_sample_train_patches.npy': no such file; make one with: "
        "vidrep-preprocess --videos=VIDEOS/ --output=FILE.h5 --kind=patches --size=32 --seq_length=20")
    for noise in ("cuInit", "cudart_stub", "absl::InitializeLog", "oneDNN custom operations"):
        assert noise not in result.stderr, result.stderr
    assert not os.path.exists(tmp_path / "run")
