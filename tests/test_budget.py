"""--train_minutes: the run plans how many steps fit, plans again as it goes (the pace of its recent steps, the
measured cost of its periodic work), ends on time with its learning rate at the floor, keeps its last plan on resume,
and stops at the deadline if it slows down past every plan. A fake clock advances with the steps, so nothing here
depends on the machine's speed."""
import json
import os

import numpy as np
import pytest

from keras_vidrep.config import Config
from keras_vidrep.errors import ConfigError
from keras_vidrep.training import budget, loop


@pytest.fixture
def fake_clock(monkeypatch):
    now = {"t": 0.0}
    monkeypatch.setattr(budget, "clock", lambda: now["t"])
    return now


def ticking(trainer, now, seconds_per_step, validation_seconds=None, stop_after=None):
    """Makes every training step of `trainer` advance the fake clock by `seconds_per_step(step, now)` seconds, and
    its k-th validation by `validation_seconds(k)`; KeyboardInterrupt after step `stop_after` (a kill)."""
    step, evaluate, validations = trainer.train_step, trainer.evaluate, []

    def timed(iterator):
        done = int(trainer.step.numpy())
        if stop_after is not None and done >= stop_after:
            raise KeyboardInterrupt
        now["t"] += seconds_per_step(done + 1, now["t"])
        return step(iterator)

    def timed_evaluate(*args, **kwargs):
        validations.append(now["t"])
        if validation_seconds:
            now["t"] += validation_seconds(len(validations))
        return evaluate(*args, **kwargs)

    trainer.train_step, trainer.evaluate = timed, timed_evaluate
    return trainer


def budgeted(tiny_config, minutes=1.0, **values):
    return tiny_config.replace(**{**dict(
        train_minutes=minutes, train_steps=1000, eval_every=50, checkpoint_every=1000, image_every=1000,
        summary_every=50, learning_rate_schedule="cosine", learning_rate_floor=0.05, warmup_steps=5, export=False),
        **values}).validate()


def learning_rate(trainer):
    return float(np.asarray(trainer.optimizer.learning_rate))


def test_the_step_count_is_what_the_rest_of_the_budget_fits(fake_clock):
    b = budget.TimeBudget(1.0, 0.0, {"validation": 10, "pictures": 1000, "checkpoint": 1000}, export=False)
    for step in range(1, budget.WARMUP + budget.MEASURED + 1):
        fake_clock["t"] = float(step)  # 1 s a step
        assert b.measured() == (step == budget.WARMUP + budget.MEASURED)
    assert b.step_seconds == pytest.approx(1.0)
    b.record("validation", 2.0)
    # 60 s - 13 s spent = 47 s: 37 steps at 1 s, validations at 20, 30, 40 and the last one at 50 = 45 s
    assert b.plan(13) == 50 and b.cost(13, 50) == 37 + 3 * 2.0 + 2.0 and b.cost(13, 51) > 47
    assert not b.due(13) and not b.over()
    fake_clock["t"] = 13.0 + 17 * 0.5  # at a quarter of the budget... 21.5 s: due, at 0.5 s a step since the plan
    assert b.due(30) and b.step_seconds == pytest.approx(0.5)
    # 38.5 s left: 53 steps at 0.5 s, validations at 40, 50, 60, 70, 80 and the last one at 83 = 38.5 s
    assert b.plan(30) == 83 and b.cost(30, 83) == 26.5 + 5 * 2.0 + 2.0
    assert [p["at_step"] for p in b.plans] == [13, 30]
    fake_clock["t"] = 60.0
    assert b.over() and b.plan(40) == 40  # nothing left: no further step


@pytest.mark.parametrize("profile", ["steady", "doubles_halfway", "halves_halfway", "slow_first_validation"])
def test_a_budgeted_run_ends_on_time_with_its_schedule_complete(tiny_config, fake_clock, profile):
    pace = {"doubles_halfway": lambda step, t: 0.2 if t < 30 else 0.4,
            "halves_halfway": lambda step, t: 0.2 if t < 30 else 0.1}.get(profile, lambda step, t: 0.2)
    first_validation = 8.0 if profile == "slow_first_validation" else 0.5
    trainer = ticking(loop.Trainer(budgeted(tiny_config)), fake_clock, pace,
                      lambda k: first_validation if k == 1 else 0.5)
    trainer.train()
    record = json.loads(open(tiny_config.run_dir.budget).read())
    assert 0.98 * 60 <= fake_clock["t"] <= 60.0, (fake_clock["t"], record["plans"])  # within 2% of the budget
    assert int(trainer.step.numpy()) == record["train_steps"] == trainer.config.train_steps
    assert learning_rate(trainer) == pytest.approx(0.05 * tiny_config.learning_rate, rel=1e-5)  # at its floor
    assert len(record["plans"]) >= 5 and Config.load(tiny_config.model_dir).train_steps == record["train_steps"]


def test_the_schedule_never_jumps_when_the_plan_changes(tiny_config, fake_clock):
    trainer = ticking(loop.Trainer(budgeted(tiny_config)), fake_clock, lambda step, t: 0.2 if t < 30 else 0.4)
    rates, step = [], trainer.train_step

    def recording(iterator):
        rates.append(learning_rate(trainer))
        return step(iterator)

    trainer.train_step = recording
    trainer.train()
    decay = np.diff(rates[tiny_config.replace(warmup_steps=5).warmup_steps + 1:])
    assert (decay <= 1e-9).all()  # decreasing all the way: re-plans change the pace, not the value
    assert np.abs(decay).max() < 0.02 * tiny_config.learning_rate


def test_a_killed_run_resumes_on_the_plan_it_had(tiny_config, fake_clock):
    config = budgeted(tiny_config, checkpoint_every=20)
    first = ticking(loop.Trainer(config), fake_clock, lambda step, t: 0.2 if t < 30 else 0.4, stop_after=200)
    with pytest.raises(KeyboardInterrupt):
        first.train()
    plan = budget.stored_plan(tiny_config.run_dir)
    assert plan["at_step"] < 200 and plan["train_steps"] > 200
    rate_at_stop = learning_rate(first)
    resumed = loop.Trainer(config)  # the same command again: the last plan, no new deadline
    assert resumed.budget is None and resumed.config.train_steps == plan["train_steps"]
    assert int(resumed.step.numpy()) == 200 and learning_rate(resumed) == pytest.approx(rate_at_stop, rel=1e-6)
    resumed.train()
    assert int(resumed.step.numpy()) == plan["train_steps"]
    assert learning_rate(resumed) == pytest.approx(0.05 * tiny_config.learning_rate, rel=1e-5)


def test_a_run_that_slows_down_past_every_plan_stops_at_the_deadline_with_a_checkpoint(tiny_config, fake_clock):
    config = budgeted(tiny_config, minutes=0.5)
    trainer = ticking(loop.Trainer(config), fake_clock, lambda step, t: 0.2 if t < 29 else 5.0)
    result = trainer.train()
    planned = json.loads(open(tiny_config.run_dir.budget).read())["train_steps"]
    stopped = int(trainer.step.numpy())
    assert stopped < planned and 30 <= fake_clock["t"] < 36
    assert os.path.isfile(os.path.join(tiny_config.model_dir, "checkpoints", f"ckpt-{stopped}.index"))
    assert np.isfinite(result["future"])  # validated where it stopped


def test_budget_settings_are_checked():
    with pytest.raises(ConfigError, match="`train_minutes` must be >= 0"):
        Config(train_minutes=-1).validate()
    with pytest.raises(ConfigError, match="`train_minutes` runs on one machine"):
        Config(train_minutes=5, strategy="multi_worker").validate()
