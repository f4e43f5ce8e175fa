"""Evaluation: metric definitions, per-horizon shapes, baselines, vidrep-eval / vidrep-viz / vidrep-ablation."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_vidrep.analysis import evaluate, metrics, predictors
from keras_vidrep.analysis.ablation import plot, runs, sampling_flags, table
from keras_vidrep.config import Config
from keras_vidrep.data.validation_set import ValidationSet
from keras_vidrep.tasks import baselines
from keras_vidrep.training import loop

BIN = os.path.dirname(sys.executable)


def test_metric_definitions_by_hand():
    t = np.zeros((1, 2, 12, 12), np.float32)
    p = np.zeros((1, 2, 12, 12), np.float32)
    p[0, 0, :2, :] = 0.5  # frame 0: 24 pixels off by 0.5; frame 1 perfect
    out = metrics.frame_metrics(t, p)
    np.testing.assert_allclose(out["mse"], [[24 * 0.25, 0.0]])
    np.testing.assert_allclose(out["mae"], [[24 * 0.5, 0.0]])
    np.testing.assert_allclose(out["psnr"][0, 0], 10 * np.log10(1.0 / (24 * 0.25 / 144)), rtol=1e-5)
    assert out["ssim"][0, 1] == pytest.approx(1.0) and out["ssim"][0, 0] < 1.0
    clip = baselines.PROBABILITY_CLIP  # probabilities without logits (a baseline) are clipped ...
    expected_nats = 24 * -np.log(0.5) + 120 * -np.log(1 - clip)
    np.testing.assert_allclose(out["loss"][0, 0], expected_nats, rtol=1e-5)
    logits = np.where(p > 0, 0.0, -30.0).astype(np.float32)  # ... a model's logits are not
    exact = metrics.frame_metrics(t, p, logits=logits)["loss"]
    np.testing.assert_allclose(exact[0, 0], 24 * np.log(2) + 120 * np.log1p(np.exp(-30.0)), rtol=1e-5)
    linear = metrics.frame_metrics(t, p, output="linear")
    np.testing.assert_allclose(linear["loss"], [[0.5 * 24 * 0.25, 0.0]])


def test_ssim_and_psnr_by_hand_capped_and_clipped():
    # Constant frames have no variance, so SSIM is its luminance term (2ab + C1) / (a^2 + b^2 + C1), C1 = 0.01^2
    # (the contrast term is 1, up to tf.image.ssim's float32 variance E[x^2] - E[x]^2: 2e-4 of C2 = 0.03^2).
    t, p = np.full((1, 1, 12, 12), 0.25, np.float32), np.full((1, 1, 12, 12), 0.5, np.float32)
    c1 = 0.01 ** 2
    assert metrics.frame_metrics(t, p)["ssim"][0, 0] == pytest.approx((2 * 0.25 * 0.5 + c1) / (0.25 ** 2 + 0.5 ** 2
                                                                                              + c1), rel=1e-3)
    same = metrics.frame_metrics(t, t.copy())
    assert same["psnr"][0, 0] == metrics.PSNR_CAP and np.isfinite(same["psnr"]).all()  # not inf
    # A linear model's prediction outside [0, 1] is scored on images as the picture it shows: clipped.
    wild = np.full((1, 1, 12, 12), 1.7, np.float32)
    clipped = metrics.frame_metrics(t, np.ones_like(t), output="linear")
    out = metrics.frame_metrics(t, wild, output="linear")
    assert out["ssim"][0, 0] == pytest.approx(clipped["ssim"][0, 0])
    assert out["psnr"][0, 0] == pytest.approx(clipped["psnr"][0, 0])
    assert out["mse"][0, 0] == pytest.approx(144 * 1.45 ** 2)  # the error metrics keep the raw values


@pytest.mark.parametrize("shape, window", [((6, 64, 64, 1), 11), ((4, 2, 20, 24, 3), 11), ((5, 12, 12, 1), 11),
                                           ((3, 8, 9, 1), 8)])
def test_ssim_is_tf_image_ssim(shape, window):
    # metrics.ssim convolves each channel with tf.nn.conv2d instead of tf.image.ssim's slow depthwise convolution:
    # the same numbers, on random, binary-like and nearly equal frames.
    rng = np.random.default_rng(len(shape) + window)
    x = rng.random(shape, dtype=np.float32)
    for y in (rng.random(shape, dtype=np.float32), (x > 0.7).astype(np.float32), np.clip(x + 0.01, 0, 1)):
        want = tf.image.ssim(tf.constant(x), tf.constant(y), max_val=1.0, filter_size=window).numpy()
        got = metrics.ssim(x, y, filter_size=window).numpy()
        assert got.shape == want.shape == shape[:-3]
        np.testing.assert_allclose(got, want, atol=1e-5)  # float32 rounding of two convolutions, any CPU


def test_per_horizon_summary_shapes():
    rng = np.random.default_rng(0)
    t, p = rng.random((5, 7, 16, 16)), rng.random((5, 7, 16, 16))
    per_frame = metrics.frame_metrics(t, p, batch_size=2)
    assert all(v.shape == (5, 7) for v in per_frame.values())
    summary = metrics.summarize(per_frame)
    assert len(summary["ssim"]["per_horizon"]) == 7
    by_hand = np.square(p - t).sum(axis=(2, 3))  # (sequences, horizons), computed here without the package
    np.testing.assert_allclose(summary["mse"]["per_horizon"], by_hand.mean(axis=0), rtol=1e-5)
    assert summary["mse"]["mean"] == pytest.approx(by_hand.mean(), rel=1e-5)


class StaticPredictor:
    """Predicts that the last input frame stays: equals the copy-last baseline."""
    can_teacher_force, reconstructs, predicts, config = False, False, True, None

    def predict(self, frames, steps, truth=None):
        return np.repeat(frames[:, -1:], steps, axis=1), None


def test_baselines_on_static_and_moving_data():
    rng = np.random.default_rng(1)
    static = np.repeat(rng.random((4, 1, 16, 16)).astype(np.float32), 6, axis=1)
    static_set = ValidationSet.of_arrays(static)
    res = evaluate.evaluate(StaticPredictor(), static_set, input_frames=3, future_frames=3, mean=np.full((16, 16), 0.5))
    assert res["baseline/copy_last"]["mse"]["per_horizon"] == [0.0, 0.0, 0.0]
    assert res["future/free_running"]["mse"]["mean"] == 0.0
    assert res["baseline/mean_training_frame"]["mse"]["mean"] > 0.0
    assert "mean frame of the model's training data" in json.dumps(res["info"])
    assert "baseline/mean_training_frame" not in evaluate.evaluate(StaticPredictor(), static_set, 3, 3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    config = Config(model_dir=str(root / "run"), export_dir=str(root / "export"), canvas_size=32, digit_size=14,
                    units=(16,), batch_size=4, train_steps=2, checkpoint_every=2, summary_every=1, eval_every=2,
                    image_every=2, val_sequences=4, conditional_future=True)
    loop.Trainer(config.validate()).train()
    return root, config


def test_checkpoint_evaluation_modes_and_longer_futures(trained):
    _, config = trained
    predictor = predictors.CheckpointPredictor(config.model_dir)
    data = evaluate.open_sequences("generated", 6, 10 + 15, (32, 32), num_digits=3, config=config)
    res = evaluate.evaluate(predictor, data, 10, 15, batch_size=4, mean=evaluate.mean_training_frame(config))
    assert set(res) >= {"future/free_running", "future/teacher_forced", "reconstruction", "baseline/copy_last",
                        "baseline/mean_training_frame", "info"}
    assert len(res["future/free_running"]["psnr"]["per_horizon"]) == 15
    assert len(res["reconstruction"]["loss"]["per_horizon"]) == 10
    free = res["future/free_running"]["loss"]["per_horizon"]
    forced = res["future/teacher_forced"]["loss"]["per_horizon"]
    assert free[0] == pytest.approx(forced[0], rel=1e-4)  # the same until the fed-back frames differ ...
    assert np.all(np.abs(np.subtract(free[1:], forced[1:])) > 1e-3)  # ... then different at every later horizon
    saved = predictors.SavedModelPredictor(config.export_dir)  # its in-graph loop rolls out past the trained 10
    assert saved.future_frames == 10
    first_two = data.take([0, 1])[:, :10]
    np.testing.assert_allclose(saved.predict(first_two, 15)[0], predictor.predict(first_two, 15)[0],
                               rtol=1e-4, atol=1e-5)
    from_saved = evaluate.evaluate(saved, data, 10, 15, batch_size=4)
    assert from_saved["future/free_running"]["loss"]["per_horizon"] == pytest.approx(free, rel=1e-4)


def test_evaluation_loss_is_the_training_loss(trained):
    """vidrep-eval scores a model from its logits exactly as training validates it: no clipping."""
    _, config = trained
    trainer = loop.Trainer(config.replace(export=False).validate())  # restores the trained checkpoint
    val = trainer.evaluate()
    data = trainer.task.sequence_set
    for predictor in (predictors.CheckpointPredictor(config.model_dir),
                      predictors.SavedModelPredictor(config.export_dir)):
        res = evaluate.evaluate(predictor, data, 10, 10)
        assert res["future/free_running"]["loss"]["mean"] == pytest.approx(val["future"], rel=1e-5)
        assert res["reconstruction"]["loss"]["mean"] == pytest.approx(val["reconstruction"], rel=1e-5)
    forced = evaluate.evaluate(predictors.CheckpointPredictor(config.model_dir), data, 10, 10)
    assert forced["future/teacher_forced"]["loss"]["mean"] == pytest.approx(val["future_teacher_forced"], rel=1e-5)
    mean = evaluate.mean_training_frame(config)
    res = evaluate.evaluate(predictors.CheckpointPredictor(config.model_dir), data, 10, 10, mean=mean)
    assert res["baseline/mean_training_frame"]["loss"]["mean"] == pytest.approx(
        trainer.task.baselines()["baseline/mean_training_frame/future"], rel=1e-5)  # one definition, TensorBoard's


def test_tfds_moving_mnist_evaluation(tmp_path):
    import tensorflow_datasets as tfds

    config = Config(model_dir=str(tmp_path / "run"), units=(8,), batch_size=2, train_steps=1, val_sequences=2,
                    export=False)
    loop.Trainer(config.validate()).train()
    with tfds.testing.mock_data(num_examples=3):
        data = ValidationSet.of_arrays(evaluate.open_sequences("tfds_moving_mnist", 3, 20, (64, 64)).whole())
    res = evaluate.evaluate(predictors.CheckpointPredictor(config.model_dir), data, 10, 10)
    assert res["info"]["sequences"] == 3 and np.isfinite(res["future/free_running"]["ssim"]["mean"])


def run(tool, *args, cwd):
    result = subprocess.run([os.path.join(BIN, tool), *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_vidrep_eval_on_files_and_generated(trained):
    root, config = trained
    rng = np.random.default_rng(2)
    np.save(root / "mnist_test_seq.npy", rng.integers(0, 256, (20, 5, 32, 32), dtype=np.uint8))
    np.save(root / "bouncing_mnist_test.npy", rng.integers(0, 256, (5, 20, 32, 32), dtype=np.uint8))
    out = run("vidrep-eval", f"--saved_model={config.export_dir}", "--dataset=mnist_test_seq",
              "--data_path=mnist_test_seq.npy", "--output_json=seq.json", cwd=root)
    assert "future/free_running" in out.stdout and "baseline/copy_last" in out.stdout
    assert json.loads((root / "seq.json").read_text())["info"]["sequences"] == 5
    run("vidrep-eval", f"--model_dir={config.model_dir}", "--dataset=bouncing_mnist_test",
        "--data_path=bouncing_mnist_test.npy", "--output_json=bm.json", cwd=root)
    assert "future/teacher_forced" in json.loads((root / "bm.json").read_text())
    run("vidrep-eval", f"--model_dir={config.model_dir}", "--num_digits=1", "--num_sequences=8",
        "--future_frames=12", "--output_json=gen.json", "--plot=gen.png", "--summary_dir=gen_tb", cwd=root)
    gen = json.loads((root / "gen.json").read_text())
    assert len(gen["future/free_running"]["mae"]["per_horizon"]) == 12 and gen["info"]["num_digits"] == 1
    events = [e for f in (root / "gen_tb").glob("events.*") for e in tf.compat.v1.train.summary_iterator(str(f))]
    scalars = {v.tag: (e.step, float(tf.make_ndarray(v.tensor))) for e in events for v in e.summary.value}
    step = int(tf.train.latest_checkpoint(os.path.join(config.model_dir, "checkpoints")).rsplit("-", 1)[1])
    assert scalars["future/free_running/mae"] == (step, pytest.approx(gen["future/free_running"]["mae"]["mean"]))
    assert os.path.isdir(os.path.join(config.model_dir, "eval"))  # the default: beside the run's own summaries
    assert Image.open(root / "gen.png").size[0] > 1000


def test_wrong_frame_size_is_one_line_in_every_tool(trained):
    root, config = trained
    np.save(root / "big.npy", np.zeros((3, 20, 64, 64), np.uint8))
    for tool, source in (("vidrep-eval", f"--saved_model={config.export_dir}"),
                         ("vidrep-eval", f"--model_dir={config.model_dir}"),
                         ("vidrep-viz", f"--saved_model={config.export_dir}")):
        result = subprocess.run([os.path.join(BIN, tool), source, "--dataset=bouncing_mnist_test",
                                 "--data_path=big.npy"], capture_output=True, text=True, cwd=root, timeout=300)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert result.stderr.strip().splitlines()[-1] == (
            f"{tool}: error: `dataset` bouncing_mnist_test has frames of shape (64, 64), but the model reads frames "
            f"of (32, 32)")


def test_vidrep_viz_writes_pictures(trained):
    root, config = trained
    run("vidrep-viz", f"--model_dir={config.model_dir}", "--sequences=0,3", "--rollout=30", "--out_dir=pics",
        cwd=root)
    names = sorted(os.listdir(root / "pics"))
    assert names == sorted(f"{kind}_{i}.{ext}" for kind in ("sequence", "rollout") for i in (0, 3)
                           for ext in ("png", "gif"))
    gif = Image.open(root / "pics" / "sequence_3.gif")
    assert gif.n_frames == 20
    assert Image.open(root / "pics" / "rollout_0.gif").n_frames == 10 + 30  # the inputs, then the rollout
    strip = np.asarray(Image.open(root / "pics" / "sequence_0.png"))  # labelled RGB, enlarged twice
    assert strip.shape[2] == 3 and 2 * 2 * 32 < strip.shape[0] < 2 * 3 * 32 and strip.shape[1] > 2 * 20 * 32
    rollout = np.asarray(Image.open(root / "pics" / "rollout_0.png"))  # 40 columns: wrapped into two blocks
    assert rollout.shape[0] > 1.9 * strip.shape[0]
    # A SavedModel rolls out too (its predict_future takes `steps`), to the same pictures.
    run("vidrep-viz", f"--saved_model={config.export_dir}", "--sequences=0", "--rollout=30", "--out_dir=saved",
        cwd=root)
    np.testing.assert_allclose(np.asarray(Image.open(root / "saved" / "rollout_0.png"), np.float32), rollout,
                               atol=2)


def test_ablation_table_and_plot(tmp_path):
    order = runs(["teacher_forcing", "scheduled_sampling", "free_running"])
    assert [name for name, *_ in order] == [
        "future", "composite", "conditional_future__teacher_forcing", "conditional_future__scheduled_sampling",
        "conditional_future__free_running", "composite_conditional_future__teacher_forcing",
        "composite_conditional_future__scheduled_sampling", "composite_conditional_future__free_running"]
    assert sampling_flags("scheduled_sampling", 1000, 0.75)[-1] == "--sampling_steps=750"
    row = {"mean": 1.0, "per_horizon": [1.0, 2.0]}
    metrics_row = dict.fromkeys(metrics.METRICS, row)
    results = {name: {"future/free_running": metrics_row, "baseline/mean_training_frame": metrics_row,
                      "baseline/copy_last": metrics_row, "info": {"output": "sigmoid"}} for name, *_ in order}
    results["composite_conditional_future__free_running"]["future/teacher_forced"] = metrics_row
    results["composite"]["reconstruction"] = metrics_row
    text = table(results, {"output": "sigmoid"}, order)
    lines = text.splitlines()
    assert len(lines) == 2 + 8 + 2 and lines[0].startswith("| model | future nats/frame, free-running")
    assert lines[2].startswith("| Future predictor | 1.0 | – | – |")
    assert lines[9].startswith("| Composite model with conditional future predictor, trained free-running | 1.0 "
                               "| 1.0 |")
    png = plot(results, order, str(tmp_path / "ablation.png"))
    assert Image.open(png).size[0] > 500
