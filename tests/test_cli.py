"""The command-line tools as a user runs them: flagfiles, overrides, one-line errors, export."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

BIN = os.path.dirname(sys.executable)


def run(tool, *args, cwd):
    exe = os.path.join(BIN, tool)
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    flagfile = root / "tiny.cfg"
    flagfile.write_text("# a tiny experiment\n--experiment=tiny\n--canvas_size=32\n--digit_size=14\n--units=16\n"
                        "--batch_size=4\n--train_steps=3\n--checkpoint_every=2\n--summary_every=1\n"
                        "--eval_every=3\n--image_every=3\n--val_sequences=4\n")
    result = run("vidrep-train", f"--flagfile={flagfile}", "--model_dir=run", "--train_steps=4", cwd=root)
    return root, result


def test_train_from_flagfile_with_override(trained):
    root, result = trained
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary["final_validation"]) >= {"reconstruction", "future"}
    saved = json.loads((root / "run" / "config.json").read_text())
    assert saved["train_steps"] == 4 and saved["units"] == [16] and saved["experiment"] == "tiny"
    assert (root / "run" / "export" / "saved_model.pb").is_file()  # the default export follows the run
    assert (root / "run" / "checkpoints" / "ckpt-4.index").is_file()


def test_export_of_another_run_is_refused_before_training(trained):
    root, _ = trained  # run/export holds the export of the module's run, in root/run
    exported = root / "run" / "export" / "saved_model.pb"
    before = exported.stat().st_mtime_ns
    other = run("vidrep-train", f"--flagfile={root / 'tiny.cfg'}", "--model_dir=b", "--export_dir=run/export",
                "--train_steps=1", cwd=root)
    assert other.returncode == 2, other.stderr[-2000:]
    assert other.stderr.strip().splitlines()[-1] == (
        f"vidrep-train: error: `export_dir` 'run/export' holds the export of the run in {str(root / 'run')!r}, not "
        f"of this run ({str(root / 'b')!r}); choose another `export_dir` or remove it")
    assert not (root / "b").exists() and exported.stat().st_mtime_ns == before  # refused before anything was written
    again = run("vidrep-train", f"--flagfile={root / 'tiny.cfg'}", "--model_dir=run", "--export_dir=run/export",
                "--train_steps=4", cwd=root)  # the same run, resumed (at its last step), replaces its own export
    assert again.returncode == 0, again.stderr[-2000:]
    assert exported.stat().st_mtime_ns > before


def test_export_tool(trained):
    root, _ = trained
    result = run("vidrep-export", "--model_dir=run", "--export_dir=exported", cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / "exported" / "saved_model.pb").is_file()


@pytest.mark.parametrize("args,message", [
    (["--model_dir=m", "--batch_size=-1"], "`batch_size` must be a positive integer, got -1"),
    (["--model_dir=m", "--input_frames=15"], "must not exceed `seq_length`"),
    (["--model_dir=m", "--digits=mnist_h5", "--digits_path=absent.h5"], "no such file"),
    (["--model_dir=m", "--units=12,x"], "`units` must be comma-separated integers"),
    (["--model_dir=/proc/forbidden"], "`model_dir` '/proc/forbidden' is not writable"),
    (["--model_dir=m", "--strategy=mirrored", "--cpu_replicas=3", "--batch_size=16"],
     "`batch_size` 16 is not divisible by the 3 replicas"),
    (["--model_dir=m", "--strategy=multi_worker"], "needs the cluster in the TF_CONFIG environment variable"),
])
def test_bad_input_gives_one_line_and_exit_2(tmp_path, args, message):
    result = run("vidrep-train", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("vidrep-train: error:")
    assert not (tmp_path / "m").exists()  # nothing written


def test_wrong_validation_file_and_unknown_names(tmp_path):
    np.save(tmp_path / "seq.npy", np.zeros((20, 3, 64, 64), np.float32))  # float, not uint8
    result = run("vidrep-train", "--model_dir=m", "--val_dataset=mnist_test_seq", "--val_path=seq.npy", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == \
        "vidrep-train: error: seq.npy: expected dtype uint8 (pixel values 0..255), got float32"
    unknown = run("vidrep-train", "--model_dir=m", "--digits=emnist", cwd=tmp_path)
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "--digits=emnist: value should be one of" in unknown.stderr
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", ["quickstart", "cpu_15min", "cpu_60min", "bouncing_mnist", "bouncing_mnist_2layer",
                                  "ucf_patches", "ucf_fc6_classifier"])
def test_shipped_configs_parse_and_validate(name, monkeypatch):
    from absl import flags

    from keras_vidrep.cli import common

    root = os.path.join(os.path.dirname(__file__), "..")
    monkeypatch.chdir(root)  # nested flagfile paths are repo-relative
    flag_values = flags.FlagValues()
    common.define_config_flags(flag_values)
    flag_values(["vidrep-train", f"--flagfile={os.path.join(root, 'configs', name + '.cfg')}"])
    config = common.config_from_flags(flag_values)
    assert config.experiment == name and config.model_dir == f"runs/{name}"
    if name.startswith("bouncing_mnist"):
        assert config.units == ((2048,) if name == "bouncing_mnist" else (2048, 2048))
        assert config.conditional_future and config.batch_size == 80 and config.peepholes
    if name == "ucf_patches":  # the original's patch model
        assert (config.task, config.data, config.frame_shape, config.units, config.batch_size) == \
            ("composite", "patches", (32, 32, 3), (2048,), 100)
        assert config.conditional_reconstruction and config.conditional_future and config.peepholes
        assert (config.output, config.initializer, config.input_frames, config.future_frames) == \
            ("linear", "original", 10, 10)
    if name.startswith("cpu_"):
        assert (config.units, config.batch_size, config.learning_rate_schedule, config.train_steps,
                config.train_minutes, config.precision) == \
            ((512,), 32, "cosine", 4000, 14.5 if name == "cpu_15min" else 59.5, "auto")
    if name == "ucf_fc6_classifier":
        assert (config.task, config.data, config.clip_length, config.num_classes, config.units) == \
            ("classifier", "fc6", 16, 101, (2048,))


@pytest.mark.parametrize("variant,model,conditional", [("future", "future", False), ("composite", "composite", False),
                                                       ("conditional_future", "future", True),
                                                       ("composite_conditional_future", "composite", True)])
def test_ablation_configs_build_on_the_quickstart(variant, model, conditional, monkeypatch):
    from absl import flags

    from keras_vidrep.cli import common

    monkeypatch.chdir(os.path.join(os.path.dirname(__file__), ".."))  # nested flagfile paths are repo-relative
    flag_values = flags.FlagValues()
    common.define_config_flags(flag_values)
    flag_values(["vidrep-train", f"--flagfile=configs/ablation/{variant}.cfg"])
    config = common.config_from_flags(flag_values)
    assert (config.model, config.conditional_future) == (model, conditional)
    assert config.units == (256,) and config.experiment == f"ablation_{variant}"


@pytest.mark.parametrize("digits", ["mnist_h5", "mnist_npz"])
def test_cpu_15min_config_trains_on_real_mnist_files(digits, tmp_path, monkeypatch):
    """The 15-minute config takes the original MNIST files as they are (shrunk here to a few steps)."""
    from absl import flags
    from conftest import write_mnist_h5, write_mnist_npz

    from keras_vidrep.cli import common
    from keras_vidrep.training import loop

    path = (write_mnist_h5 if digits == "mnist_h5" else write_mnist_npz)(tmp_path / f"mnist.{digits[6:]}")
    monkeypatch.chdir(os.path.join(os.path.dirname(__file__), ".."))
    flag_values = flags.FlagValues()
    common.define_config_flags(flag_values)
    flag_values(["vidrep-train", "--flagfile=configs/cpu_15min.cfg", f"--digits={digits}", f"--digits_path={path}"])
    config = common.config_from_flags(flag_values)
    assert (config.digits, config.learning_rate_schedule) == (digits, "cosine")
    small = config.replace(model_dir=str(tmp_path / "run"), units=(16,), batch_size=4, train_steps=3, warmup_steps=1,
                           val_sequences=4, eval_every=3, image_every=3, checkpoint_every=3, export=False)
    result = loop.train(small.validate())
    assert result["step"] == 3 and np.isfinite(result["final_validation"]["future"])
