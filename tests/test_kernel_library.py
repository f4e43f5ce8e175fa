"""The kernel library (oneDNN or Eigen) is measured once per CPU, cached, and set before TensorFlow loads."""
import json
import os
import subprocess
import sys

import pytest

from keras_vidrep import kernel_library


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
    assert stored[kernel_library.key()]["rates"]["onednn"] == {"forward": 60.0, "backward": 20.0}
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


def test_every_command_starts_with_the_cached_library(cache):
    kernel_library.measure_and_choose(
        80, 2048, measure=lambda lib, b, u: {"forward": 90.0 if lib == "eigen" else 30.0, "backward": 50.0})
    env = {k: v for k, v in os.environ.items() if k != kernel_library.ENV}
    script = ("import os, keras_vidrep.cli, tensorflow; "
              "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), os.environ.get('VIDREP_KERNEL_LIBRARY_FROM_CACHE'))")
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["0", "eigen"]
    env[kernel_library.ENV] = "1"  # the user's own setting is left alone
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["1", "None"]


def test_the_real_measurement_times_both_products_in_a_child_process():
    rates = kernel_library.measure_in_child("eigen", 4, 16)
    assert set(rates) == {"forward", "backward"} and all(v > 0 for v in rates.values())
