"""The learning-rate schedule of the PyTorch port (bench/torch_train.py), in plain Python: the rule of the package's
`keras_vidrep.training.optimizers.BudgetCosine`, so that a time budget re-plans both the same way."""
import math


class Schedule:
    """Linear warm-up from 0 to `peak`, then cosine decay to `floor` x `peak` as a function of progress, re-plannable
    without a jump (the rule of `keras_vidrep.training.optimizers.BudgetCosine`)."""

    def __init__(self, peak, end_step, floor, warmup):
        self.peak, self.floor, self.warmup = peak, floor, warmup
        self.anchor_step, self.anchor_progress, self.end_step = float(warmup), 0.0, float(max(end_step, warmup + 1))

    def progress(self, step):
        span = max(self.end_step - self.anchor_step, 1.0)
        return min(1.0, max(0.0, self.anchor_progress + (step - self.anchor_step) / span * (1 - self.anchor_progress)))

    def replan(self, step, end_step):
        if step > self.warmup:
            self.anchor_progress, self.anchor_step = self.progress(step), float(step)
        self.end_step = float(max(end_step, self.anchor_step + 1))

    def __call__(self, step):
        if step < self.warmup:
            return self.peak * step / self.warmup
        cosine = 0.5 * (1 + math.cos(math.pi * self.progress(step)))
        return self.peak * ((1 - self.floor) * cosine + self.floor)
