"""What a training run does every so many steps besides training: summaries, validation (scored against the
task's baselines, NaN-checked, keeping the best checkpoint), pictures and checkpoints — each timed for a time budget.

`PeriodicWork` is a part of `keras_vidrep.training.loop.Trainer`, kept in its own file; it reads the trainer's
task, model, config, summaries, budget and checkpoint manager.
"""
import contextlib
import functools
import math

import keras
from absl import logging

from keras_vidrep.runs.checkpoints import NonFiniteError
from keras_vidrep.training import budget as budget_lib
from keras_vidrep.training.validation import validation_numbers


class PeriodicWork:
    """The trainer's periodic work (a mixin of `Trainer`)."""

    def evaluate(self, batch_size=None):
        """The task's validation numbers (e.g. losses per frame, averaged over the validation set), accumulated
        batch by batch (of `batch_size`, by default the training batch) as the set is read from its files."""
        return validation_numbers(self.task, self._eval_step, self.validation_set,
                                  batch_size or self.config.batch_size, self._kick)

    @functools.cached_property
    def baselines(self):
        """The task's validation baselines, computed at the first use (the first validation, so that they do not
        delay the first training step) and logged once."""
        baselines = self.task.baselines()
        logging.info("validation baselines: %s", ", ".join(f"{k} {v:.1f}" for k, v in baselines.items()) or "none")
        return baselines

    def write_pictures(self, step):
        """The task's TensorBoard pictures of the validation set."""
        with self._local_work():
            for picture in self.task.pictures(self.model):
                self.summaries.picture("validation", step, picture)

    def _periodic_work(self, step, window, bar):
        """Summaries, validation, images and checkpoints due at `step`; returns validation losses if run."""
        cfg, last, val = self.config, step == self.config.train_steps, None
        if step % cfg.summary_every == 0 or last:
            scalars = window.pop()
            scalars["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
            scalars.update(self.task.train_scalars(step - 1))  # the schedules' values at this step's batch
            self.summaries.scalars("train", step, scalars)
        if step % cfg.eval_every == 0 or last:
            val = self.validate(step)  # timed for the budget inside
            bar.write(f"step {step}: validation " + ", ".join(f"{k} {v:.4g}" for k, v in val.items()))
            if self.best:
                with self._local_work():
                    improved = self.best.update(step, val)
                if improved:
                    bar.write(f"step {step}: best {self.best.metric} so far ({val[self.best.metric]:.4g}); saved "
                              f"{self.best.path}")
        if step % cfg.image_every == 0 or last:
            with self._timed("pictures"):
                self.write_pictures(step)
        if step % cfg.checkpoint_every == 0:
            with self._timed("checkpoint"):
                self.save(step)
        return val

    @contextlib.contextmanager
    def _timed(self, work):
        """Tells the time budget (if any) how long the block took."""
        start = budget_lib.clock()
        yield
        if self.budget:
            self.budget.record(work, budget_lib.clock() - start)

    def validate(self, step):
        """`evaluate()` written to TensorBoard; NonFiniteError (naming the number, the step and the last good
        checkpoint) if any number is NaN or Inf."""
        with self._timed("validation"):
            val = self.evaluate()
        self.summaries.scalars("validation", step, {**{self.task.summary_name(k): v for k, v in val.items()},
                                                    **self.baselines})
        bad = [k for k, v in val.items() if not math.isfinite(v)]
        if bad:
            raise NonFiniteError(f"validation {bad[0]} is {val[bad[0]]} at step {step}; stopped without saving. The "
                                 f"last good checkpoint is {self.manager.latest_checkpoint or 'none'}"
                                 + (f", the best {self.best.path}" if self.best and self.best.path else ""))
        return val
