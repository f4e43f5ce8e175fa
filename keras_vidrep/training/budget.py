"""A wall-clock budget for training (`--train_minutes`): the run measures its own pace, fixes `train_steps` — and
with it the learning-rate schedule — once, and ends on time.

After `WARMUP` steps (tracing, first allocations) `MEASURED` steps are timed, then one validation; the step count
that fits what is left of the budget,

    train_steps = step + (seconds left - one validation) / (seconds a step + seconds a validation / eval_every),

is logged and written to model_dir/budget.json and config.json, so that a resumed run trains to the same step on
the same schedule (a resumed run has no deadline of its own). If the run still reaches the deadline (the machine
slowed down), it stops there with a checkpoint and says so.
"""
import json
import math
import os
import time

BUDGET_FILE = "budget.json"
WARMUP = 3
MEASURED = 10


def clock():
    """Seconds, monotonic (the budget's clock)."""
    return time.monotonic()


def stored_steps(model_dir):
    """The `train_steps` a budgeted run of `model_dir` fixed, or None."""
    path = os.path.join(model_dir, BUDGET_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["train_steps"])


class TimeBudget:
    """The budget of one run that has not fixed its steps yet.

    Args:
      minutes: the budget, counted from `started` (a `clock()` value: when the trainer started).
      eval_every: steps between validations (each costs what the timed one cost).
    """

    def __init__(self, minutes, started, eval_every):
        self.seconds, self.started, self.eval_every = 60.0 * minutes, started, eval_every
        self._seen, self._timer, self.step_seconds = 0, None, None

    def measured(self):
        """Call after every step; True once, after the last timed step (then time one validation and `fix`)."""
        self._seen += 1
        if self._seen == WARMUP:
            self._timer = clock()
        elif self._seen == WARMUP + MEASURED:
            self.step_seconds = (clock() - self._timer) / MEASURED
            return True
        return False

    def fix(self, step, validation_seconds):
        """The step count that fits the rest of the budget (at least `step`)."""
        left = self.seconds - (clock() - self.started) - validation_seconds
        per_step = self.step_seconds + validation_seconds / self.eval_every
        return max(step, step + math.floor(max(0.0, left) / per_step))

    def over(self):
        return clock() - self.started >= self.seconds

    def write(self, model_dir, train_steps, validation_seconds):
        record = {"train_steps": int(train_steps), "train_minutes": self.seconds / 60.0,
                  "seconds_per_step": self.step_seconds, "seconds_per_validation": validation_seconds}
        with open(os.path.join(model_dir, BUDGET_FILE + ".tmp"), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        os.replace(os.path.join(model_dir, BUDGET_FILE + ".tmp"), os.path.join(model_dir, BUDGET_FILE))
        return record
