"""Scheduled sampling: schedules, the teacher-forced and free-running limits (equal to float32 rounding), batches
that do not depend on the replica split, a resumed run that continues the schedule, and TensorBoard's record of p."""
import math
import os

import numpy as np
import pytest
from test_training import read_scalars

from keras_vidrep import tasks
from keras_vidrep.errors import ConfigError
from keras_vidrep.models import sampling
from keras_vidrep.models.composite import CompositeModel
from keras_vidrep.training import loop


@pytest.mark.parametrize("schedule, step, kwargs, expected", [
    ("teacher_forcing", 10**6, {}, 1.0),
    ("free_running", 0, {}, 0.0),
    ("constant", 123, {"probability": 0.3}, 0.3),
    ("linear", 0, {"probability": 1.0, "floor": 0.0, "steps": 50000}, 1.0),
    ("linear", 25000, {"probability": 1.0, "floor": 0.0, "steps": 50000}, 0.5),
    ("linear", 50000, {"probability": 1.0, "floor": 0.0, "steps": 50000}, 0.0),
    ("linear", 90000, {"probability": 0.9, "floor": 0.1, "steps": 1000}, 0.1),  # stays at the floor
    ("linear", 250, {"probability": 0.9, "floor": 0.1, "steps": 1000}, 0.7),
    ("inverse_sigmoid", 0, {"k": 10.0}, 10 / 11),
    ("inverse_sigmoid", 50, {"k": 10.0}, 10 / (10 + math.exp(5))),
    ("inverse_sigmoid", 10**9, {"k": 10.0}, 0.0),  # no overflow far out
])
def test_schedule_values(schedule, step, kwargs, expected):
    assert sampling.truth_probability(schedule, step, **kwargs) == pytest.approx(expected, abs=1e-12)


def assert_equal_to_float32_rounding(got, want):
    """Equal up to float32 rounding: the all-truth mask and teacher forcing (or no truth and free running) compute
    the same numbers through different graphs, whose sums oneDNN may order differently on different CPUs. A few
    units in the last place of the values' scale, far below any real difference (which shows at 1e-4)."""
    np.testing.assert_allclose(got, want, rtol=0, atol=8 * np.finfo(np.float32).eps * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("units", [(24,), (24, 16)])
def test_all_truth_is_teacher_forcing_and_no_truth_is_free_running(units):
    model = CompositeModel(48, units, 4, 5, conditional_future=True, seed=2)
    model.build((None, 4, 48))
    rng = np.random.default_rng(0)
    x = rng.random((3, 4, 48), dtype=np.float32)
    truth = (rng.random((3, 5, 48)) > 0.5).astype(np.float32)
    forced = np.asarray(model.forward(x, truth, teacher_forcing=True)["future"])
    free = np.asarray(model.forward(x)["future"])
    ones, zeros = np.ones((3, 5), np.float32), np.zeros((3, 5), np.float32)
    assert_equal_to_float32_rounding(np.asarray(model.forward(x, truth, truth_mask=ones)["future"]), forced)
    assert_equal_to_float32_rounding(np.asarray(model.forward(x, truth, truth_mask=zeros)["future"]), free)
    assert not np.allclose(forced, free, atol=1e-4)
    # A mixed mask: sequence 0 reads the truth at step 2 only; sequence 1 never; both steps agree with the limits
    # until the first step that reads something else.
    mixed = zeros.copy()
    mixed[0, 2] = 1.0
    out = np.asarray(model.forward(x, truth, truth_mask=mixed)["future"])
    assert_equal_to_float32_rounding(out[1], free[1])
    assert_equal_to_float32_rounding(out[0, :2], free[0, :2])
    assert not np.allclose(out[0, 2], free[0, 2], atol=1e-5)
    # Bernoulli samples are 0/1 frames: noise above every probability feeds zeros, below feeds ones.
    above = np.asarray(model.forward(x, truth, truth_mask=zeros, sample_noise=np.ones((3, 5, 48), np.float32))
                       ["future"])
    fed_zeros = np.asarray(model.forward(x, np.zeros_like(truth), teacher_forcing=True)["future"])
    np.testing.assert_allclose(above, fed_zeros, rtol=1e-6, atol=1e-6)
    below = np.asarray(model.forward(x, truth, truth_mask=zeros, sample_noise=np.zeros((3, 5, 48), np.float32))
                       ["future"])
    fed_ones = np.asarray(model.forward(x, np.ones_like(truth), teacher_forcing=True)["future"])
    np.testing.assert_allclose(below, fed_ones, rtol=1e-6, atol=1e-6)
    assert not np.allclose(fed_zeros[:, 1:], fed_ones[:, 1:], atol=1e-3)  # the two feeds are told apart


def test_gradient_through_the_fed_back_output_is_a_switch():
    import tensorflow as tf

    model = CompositeModel(16, (8,), 3, 4, model_type="future", conditional_future=True, seed=1)
    model.build((None, 3, 16))
    x = tf.constant(np.random.default_rng(1).random((2, 3, 16), dtype=np.float32))
    truth = tf.zeros((2, 4, 16))
    mask = tf.zeros((2, 4))

    def readout_gradient(flows):
        with tf.GradientTape() as tape:
            logits = model.forward(x, truth, truth_mask=mask, feedback_gradient=flows)["future"]
            loss = tf.reduce_sum(logits[:, -1])  # the last step depends on the readout through the feedback
        return tape.gradient(loss, model.future_readout.kernel).numpy()

    assert not np.allclose(readout_gradient(True), readout_gradient(False))


def make_task(tiny_config, **changes):
    config = tiny_config.replace(conditional_future=True, sampling_schedule="linear", sampling_steps=4,
                                 **changes).validate()
    task = tasks.create(config)
    task.prepare_data()
    return task


def test_batches_hold_the_coin_flips_of_the_global_batch(tiny_config):
    task = make_task(tiny_config, sampling_feed="sample", batch_size=8)
    whole = task.train_batch(2, 8, 0, 8)
    halves = [task.train_batch(2, 8, 0, 4), task.train_batch(2, 8, 4, 4)]
    assert len(whole) == 4 and whole[2].shape == (8, 10) and whole[3].shape == (8, 10, 32 * 32)
    for k in range(4):
        np.testing.assert_array_equal(whole[k], np.concatenate([h[k] for h in halves]))
    assert set(np.unique(whole[2])) <= {0.0, 1.0}
    # p = 0.5 at step 2 of 4: about half of 4,000 draws read the truth; p = 1 at step 0 all of them
    assert abs(task.train_batch(2, 400, 0, 400)[2].mean() - 0.5) < 0.05
    assert task.train_batch(0, 8, 0, 8)[2].min() == 1.0
    assert [shape for shape, _ in task.train_signature(8)] == [(8, 10, 1024), (8, 10, 1024), (8, 10),
                                                               (8, 10, 1024)]


@pytest.mark.parametrize("changes, message", [
    ({"conditional_future": False, "sampling_schedule": "constant"}, "needs a conditional future predictor"),
    ({"conditional_future": True, "sampling_schedule": "linear", "sampling_floor": 1.5},
     r"`sampling_floor` must be in \[0, 1\], got 1.5"),
    ({"conditional_future": True, "sampling_schedule": "free_running", "sampling_feed": "sample",
      "output": "linear"}, "`sampling_feed`=sample .* needs `output`=sigmoid"),
])
def test_bad_sampling_settings_name_the_setting(tiny_config, changes, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config.replace(**changes).validate()


def test_resumed_run_continues_the_schedule(tmp_path, tiny_config):
    base = tiny_config.replace(conditional_future=True, sampling_schedule="linear", sampling_steps=8,
                               sampling_probability=0.9, sampling_floor=0.1, train_steps=8, summary_every=1,
                               export=False)
    straight = base.replace(model_dir=str(tmp_path / "straight"))
    reference = loop.Trainer(straight.validate())
    reference.train()
    first = base.replace(model_dir=str(tmp_path / "resumed"), train_steps=5)
    loop.Trainer(first.validate()).train()
    resumed = loop.Trainer(first.replace(train_steps=8).validate())
    assert int(resumed.step.numpy()) == 5
    resumed.train()
    for a, b in zip(reference.model.weights, resumed.model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
    tag = "scheduled_sampling/truth_probability"
    logged = dict(read_scalars(os.path.join(first.model_dir, "train"))[1][tag])
    expected = {step: 0.9 - 0.8 * (step - 1) / 8 for step in range(1, 9)}  # p of the batch of each step
    assert logged == pytest.approx(expected, abs=1e-6)
    assert dict(read_scalars(os.path.join(straight.model_dir, "train"))[1][tag]) == pytest.approx(expected)
