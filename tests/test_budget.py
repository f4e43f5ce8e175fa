"""--train_minutes: the run times its steps and a validation, fixes train_steps and the schedule once, keeps them
on resume, and stops at the deadline if it slows down. A fake clock advances with the steps, so nothing here
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


def ticking(trainer, now, seconds_per_step):
    """Makes every training step of `trainer` advance the fake clock by `seconds_per_step(step)` seconds."""
    step = trainer.train_step

    def timed(iterator):
        now["t"] += seconds_per_step(int(trainer.step.numpy()) + 1)
        return step(iterator)

    trainer.train_step = timed
    return trainer


def test_the_step_count_is_what_the_rest_of_the_budget_fits(fake_clock):
    b = budget.TimeBudget(1.0, 0.0, eval_every=10)  # 60 s
    for step in range(1, budget.WARMUP + budget.MEASURED + 1):
        fake_clock["t"] = float(step)  # 1 s a step
        assert b.measured() == (step == budget.WARMUP + budget.MEASURED)
    assert b.step_seconds == pytest.approx(1.0)
    # 60 s - 13 s spent - 2 s for the final validation = 45 s at 1 s a step + 2 s / 10 steps of validation
    assert b.fix(13, 2.0) == 13 + 37
    assert not b.over()
    fake_clock["t"] = 60.0
    assert b.over() and b.fix(13, 2.0) == 13  # nothing left: no further step


def test_a_budgeted_run_fixes_its_steps_and_schedule_and_a_resume_keeps_them(tmp_path, tiny_config, fake_clock):
    config = tiny_config.replace(train_minutes=0.5, train_steps=1000, eval_every=10, checkpoint_every=10,
                                 learning_rate_schedule="cosine", warmup_steps=2, export=False).validate()
    trainer = ticking(loop.Trainer(config), fake_clock, lambda step: 1.0)
    result = trainer.train()
    record = json.loads((tmp_path / "run" / budget.BUDGET_FILE).read_text())
    fixed = record["train_steps"]
    assert budget.WARMUP + budget.MEASURED < fixed <= 30  # 30 s at 1 s a step, less the (real) validation time
    assert record["seconds_per_step"] == pytest.approx(1.0)
    assert int(trainer.step.numpy()) == fixed and trainer.config.train_steps == fixed and np.isfinite(result["future"])
    assert Config.load(str(tmp_path / "run")).train_steps == fixed  # config.json says what the run trained to
    assert [float(np.asarray(s.decay_steps)) for s in trainer.schedules] == [fixed - 2.0]
    resumed = loop.Trainer(config)  # the same command again: the fixed steps, not a new measurement
    assert resumed.budget is None and resumed.config.train_steps == fixed
    resumed.close()


def test_a_run_that_slows_down_stops_at_the_deadline_with_a_checkpoint(tmp_path, tiny_config, fake_clock):
    config = tiny_config.replace(train_minutes=0.5, train_steps=1000, eval_every=10, checkpoint_every=1000,
                                 export=False).validate()
    slow_after = budget.WARMUP + budget.MEASURED
    trainer = ticking(loop.Trainer(config), fake_clock, lambda step: 1.0 if step <= slow_after else 10.0)
    result = trainer.train()
    fixed = json.loads((tmp_path / "run" / budget.BUDGET_FILE).read_text())["train_steps"]
    stopped = int(trainer.step.numpy())
    assert slow_after < stopped < fixed  # 13 s, then 10 s a step: 30 s are spent two steps later
    assert os.path.isfile(tmp_path / "run" / "checkpoints" / f"ckpt-{stopped}.index")
    assert np.isfinite(result["future"])  # validated where it stopped


def test_budget_settings_are_checked():
    with pytest.raises(ConfigError, match="`train_minutes` must be >= 0"):
        Config(train_minutes=-1).validate()
    with pytest.raises(ConfigError, match="`train_minutes` runs on one machine"):
        Config(train_minutes=5, strategy="multi_worker").validate()
