"""The kernel library (oneDNN or Eigen) is measured once per CPU and product shape, cached, and set before
TensorFlow loads; a run records what it computed with, and resumes with it."""
import json
import os
import subprocess
import sys

import pytest

from keras_vidrep.runtime import kernel_library


@pytest.fixture
def cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(kernel_library.ENV, raising=False)
    monkeypatch.delenv("VIDREP_KERNEL_LIBRARY_FROM_CACHE", raising=False)
    return tmp_path


def test_the_library_with_the_shorter_step_is_chosen_once_and_cached(cache):
    timed = []

    def measure(library, batch, units):
        timed.append(library)
        # eigen: the faster sum of the two product times though its forward product is the slower one
        return {"onednn": {"forward": 60.0, "backward": 20.0}, "eigen": {"forward": 50.0, "backward": 45.0}}[library]

    entry, measured = kernel_library.measure_and_choose(80, 2048, measure=measure)
    assert measured and entry["library"] == "eigen" and sorted(timed) == ["eigen", "onednn"]
    again, measured = kernel_library.measure_and_choose(80, 2048, measure=measure)
    assert not measured and again["library"] == "eigen" and len(timed) == 2  # from the cache
    stored = json.loads((cache / "keras_vidrep" / "kernel_library.json").read_text())
    assert stored[kernel_library.key(80, 2048)]["rates"]["onednn"] == {"forward": 60.0, "backward": 20.0}
    # a product too small to repay two child processes is not measured
    assert kernel_library.measure_and_choose(8, 32, measure=measure) == (None, False) and len(timed) == 2


def test_a_user_setting_wins_and_a_failed_measurement_keeps_the_running_library(cache, monkeypatch):
    def fail(library, batch, units):
        raise RuntimeError("no child")

    entry, measured = kernel_library.measure_and_choose(80, 2048, measure=fail)
    assert entry == {"library": kernel_library.current(), "error": "no child"} and not measured
    assert not (cache / "keras_vidrep" / "kernel_library.json").exists()
    monkeypatch.setenv(kernel_library.ENV, "0")
    assert kernel_library.measure_and_choose(80, 2048, measure=fail) == (None, False)


def test_the_library_tensorflow_runs_by_default_is_known_before_it_loads(cache):
    # TensorFlow itself says which it runs here (this process loaded it without TF_ENABLE_ONEDNN_OPTS)
    assert kernel_library.current() == kernel_library.tensorflow_default()
    avx2 = {"model": "x", "cores": 2, "flags": frozenset({"avx2", "fma"})}
    assert kernel_library.tensorflow_default(avx2) == "eigen"
    assert kernel_library.tensorflow_default({**avx2, "flags": avx2["flags"] | {"avx512f", "avx512_bf16"}}) == "onednn"


def faster(winner):
    return lambda lib, b, u: {"forward": 90.0 if lib == winner else 30.0, "backward": 50.0}


def test_a_choice_made_at_a_small_shape_does_not_decide_a_large_one(cache):
    small, measured = kernel_library.measure_and_choose(32, 1024, measure=faster("eigen"))
    assert measured and small["library"] == "eigen"
    large, measured = kernel_library.measure_and_choose(80, 2048, measure=faster("onednn"))
    assert measured and large["library"] == "onednn"  # measured at its own shape, not read from the small one
    assert kernel_library.measure_and_choose(32, 1024, measure=faster("onednn"))[0]["library"] == "eigen"
    # Before TensorFlow loads, the command line names the shape (flags or a flag file, the last one winning).
    (cache / "paper.cfg").write_text("# the paper's model\n--units=2048,2048\n--batch_size=80\n")
    for argv, library in ((["--units=1024", "--batch_size", "32"], "eigen"),
                          ([f"--flagfile={cache / 'paper.cfg'}"], "onednn"),
                          ([f"--flagfile={cache / 'paper.cfg'}", "--units=1024", "--batch_size=64",
                            "--cpu_replicas=2"], "eigen"),  # 32 a replica
                          ([f"--flagfile={cache / 'paper.cfg'}", "--batch_size=40"], None),  # never measured
                          (["--units=1024", "--batch_size=32", "--kernel_library=onednn"], "onednn")):
        assert kernel_library.choice_for(argv) == library, argv


def test_every_command_starts_with_the_cached_library_and_a_run_resumes_with_its_own(cache):
    kernel_library.measure_and_choose(80, 2048, measure=faster("eigen"))
    env = {k: v for k, v in os.environ.items() if k != kernel_library.ENV}
    script = ("import os; from keras_vidrep.cli import common; common.load_tensorflow(); import tensorflow; "
              "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), os.environ.get('VIDREP_KERNEL_LIBRARY_FROM_CACHE'))")
    shape = ["--units=2048", "--batch_size=80"]
    run = subprocess.run([sys.executable, "-c", script, *shape], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["0", "eigen"]
    (cache / "run").mkdir()  # a run that started with oneDNN resumes with it, whatever was measured since
    (cache / "run" / "config.json").write_text(json.dumps({"kernel_library": "onednn"}))
    run = subprocess.run([sys.executable, "-c", script, *shape, f"--model_dir={cache / 'run'}"], env=env,
                         capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["1", "onednn"]
    env[kernel_library.ENV] = "1"  # the user's own setting is left alone
    run = subprocess.run([sys.executable, "-c", script, *shape], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["1", "None"]


def test_a_run_records_how_it_computes_and_a_resume_computes_the_same_way(cache, tiny_config, monkeypatch):
    from keras_vidrep.models import fused_lstm
    from keras_vidrep.training import autotune, loop

    rates = {"forward": {"plain": 10.0, "transposed": 30.0},
             "backward": {"materialized": 5.0, "folded": 50.0, "transposed": 20.0}}
    monkeypatch.setattr(autotune, "measure", lambda *shape: rates)
    try:
        loop.Trainer(tiny_config.replace(export=False, train_steps=2).validate()).train()
        started = json.loads(open(os.path.join(tiny_config.model_dir, "config.json")).read())
        assert started["kernel_library"] == kernel_library.current()
        assert started["formulations"] == "32:float32:transposed:folded"
        os.remove(autotune.cache_path())  # the cache gone, and another formulation measured faster now
        monkeypatch.setattr(autotune, "measure", lambda *shape: {
            "forward": {"plain": 90.0, "transposed": 30.0}, "backward": {"materialized": 90.0, "folded": 50.0,
                                                                         "transposed": 20.0}})
        fused_lstm.set_formulation(32, "float32", None, None)
        loop.Trainer(tiny_config.replace(export=False, train_steps=4).validate()).train()
        assert fused_lstm.formulation(32) == ("transposed", "folded")  # as the run started
        resumed = json.loads(open(os.path.join(tiny_config.model_dir, "config.json")).read())
        assert resumed["formulations"] == "32:float32:transposed:folded" and resumed["train_steps"] == 4
    finally:
        fused_lstm.set_formulation(32, "float32", None, None)


def test_the_real_measurement_times_both_products_in_a_child_process():
    rates = kernel_library.measure_in_child("eigen", 4, 16)
    assert set(rates) == {"forward", "backward"} and all(v > 0 for v in rates.values())
