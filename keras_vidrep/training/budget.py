"""A wall-clock budget for training (`--train_minutes`): the run measures its own pace and plans how many steps fit,
then plans again as it goes, so that it ends on time with its learning-rate schedule complete.

After `WARMUP` steps (tracing, first allocations) `MEASURED` steps are timed, then one validation, and the first plan
is made; the plan is made again when `REPLAN_AT` fractions of the budget have passed, from the pace of the steps
since the previous plan and the last measured cost of each kind of periodic work (validation, pictures,
checkpoint):

    train_steps = the most steps N for which (N - step) x seconds a step + the periodic work due before step N
                  + the finish <= seconds left,

where each kind of work costs what it cost last time, and the finish — a last validation, pictures, checkpoint and
the export — is kept free at the end. The schedule
follows the plan as a function of the training's progress (`keras_vidrep.training.optimizers.BudgetCosine`), so a
new plan changes its pace, never its value: the learning rate reaches its floor at the last planned step. Every plan
is written to model_dir/budget.json and the step count to config.json; a resumed run (it has no deadline of its own)
trains to the last plan's step on the last plan's schedule. If the run still reaches the deadline, it stops there
with a checkpoint and says so.
"""
import json
import math
import os
import time

WARMUP = 3
MEASURED = 10
REPLAN_AT = (0.05, 0.25, 0.5, 0.7, 0.85, 0.93, 0.97)  # fractions of the budget at which the plan is made again
EXPORT_SECONDS = 15.0  # kept for the export at the end (it is not measured before it runs)
WORKS = ("validation", "pictures", "checkpoint")  # periodic work, timed as it runs


def clock():
    """Seconds, monotonic (the budget's clock)."""
    return time.monotonic()


def stored_plan(run_dir):
    """The last plan of a budgeted run of `run_dir` (a `RunDir`) ({train_steps, anchor_step, anchor_progress, ...}),
    or None."""
    path = run_dir.budget
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    plans = record.get("plans") or [{"train_steps": record["train_steps"]}]  # a record of one fixed plan
    return {"anchor_step": None, "anchor_progress": 0.0, **plans[-1], "train_steps": int(plans[-1]["train_steps"])}


class TimeBudget:
    """The budget of one run, planned and planned again as it runs.

    Args:
      minutes: the budget, counted from `started` (a `clock()` value: when the trainer started).
      intervals: {work: steps between two of it} for each of `WORKS`.
      export: whether the run ends with an export (`EXPORT_SECONDS` kept for it).
    """

    def __init__(self, minutes, started, intervals, export=True):
        self.seconds, self.started, self.intervals = 60.0 * minutes, started, dict(intervals)
        self.finish_extra = EXPORT_SECONDS if export else 0.0
        self._seen, self._timer, self.step_seconds = 0, None, None
        self.work_seconds = {}  # the last measured duration of each kind of work
        self._window = None  # (clock, step, seconds of work inside) since the last plan
        self._next = 0  # the next of REPLAN_AT
        self.plans = []

    def elapsed(self):
        return clock() - self.started

    def measured(self):
        """Call after every step; True once, after the last timed step (then time one validation and `plan`)."""
        self._seen += 1
        if self._seen == WARMUP:
            self._timer = clock()
        elif self._seen == WARMUP + MEASURED:
            self.step_seconds = (clock() - self._timer) / MEASURED
            return True
        return False

    def record(self, work, seconds):
        """`work` (one of `WORKS`) took `seconds`."""
        self.work_seconds[work] = float(seconds)
        if self._window is not None:
            self._window[2] += float(seconds)

    def due(self, step):
        """Call after every step once planned: True when the next of `REPLAN_AT` has passed (then `plan` again)."""
        if not self.plans or self._next >= len(REPLAN_AT):
            return False
        if self.elapsed() < REPLAN_AT[self._next] * self.seconds:
            return False  # (`plan` moves on to the next fraction not yet passed)
        moment, since, work = self._window
        if step > since:  # the pace of the steps since the last plan, without the periodic work among them
            self.step_seconds = max(1e-9, (clock() - moment - work) / (step - since))
        return True

    def finish_seconds(self):
        """What the end of the run takes after its last step: a validation, pictures, a checkpoint, the export."""
        return sum(self.work_seconds.get(w, 0.0) for w in WORKS) + self.finish_extra

    def cost(self, step, total):
        """Seconds from after `step` to the end of a run of `total` steps: the steps, the periodic work due on the
        way (each at its last measured cost) and the finish."""
        work = sum(self.work_seconds.get(w, 0.0) * ((total - 1) // max(1, self.intervals[w])
                                                    - step // max(1, self.intervals[w])) for w in WORKS)
        return (total - step) * self.step_seconds + work + self.finish_seconds()

    def plan(self, step):
        """The step count that fits the rest of the budget (at least `step`), recorded as a plan."""
        left = self.seconds - self.elapsed()
        per_step = self.step_seconds + sum(self.work_seconds.get(w, 0.0) / max(1, self.intervals[w]) for w in WORKS)
        total = step + math.floor(max(0.0, left - self.finish_seconds()) / per_step)  # then exact, work counted
        while total > step and self.cost(step, total) > left:
            total -= 1
        while self.cost(step, total + 1) <= left:
            total += 1
        self.plans.append({"at_step": int(step), "at_seconds": round(self.elapsed(), 3), "train_steps": int(total),
                           "seconds_per_step": self.step_seconds,
                           "work_seconds": {w: round(s, 4) for w, s in self.work_seconds.items()},
                           "finish_seconds": round(self.finish_seconds(), 3)})
        self._window = [clock(), step, 0.0]
        self._next = max(self._next, next((k for k, f in enumerate(REPLAN_AT) if self.elapsed() < f * self.seconds),
                                          len(REPLAN_AT)))
        return total

    def over(self):
        return self.elapsed() >= self.seconds

    def write(self, run_dir, anchors):
        """Writes every plan so far, the last with the schedule's `anchors`, to the run's budget.json."""
        self.plans[-1].update(anchors)
        record = {"train_steps": self.plans[-1]["train_steps"], "train_minutes": self.seconds / 60.0,
                  "plans": self.plans}
        tmp = run_dir.budget + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        os.replace(tmp, run_dir.budget)
        return record
