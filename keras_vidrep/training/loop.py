"""The custom distributed training loop, one for every task: `strategy.run(step, args=(next(iterator),))` inside a
tf.function.

The loop knows only the task interface (`keras_vidrep.tasks.base.Task`): the task gives the data, the model, the
per-example losses, validation numbers, pictures and export signatures; the loop adds the model's own `add_loss`
terms, and owns strategies, the model directory's lock, checkpoints and resume, the NaN guard (losses, gradients,
weights, validation numbers), the multi-worker watchdog, the progress bar and TensorBoard. Everything a run writes
goes under `model_dir`: config.json, checkpoints/, train/ and validation/ TensorBoard events; the SavedModel goes
to the export directory (by default `<model_dir>/export`) at the end. Re-running with the same `model_dir` resumes
at the last checkpoint, and the data stream resumes at that step too.
"""
import contextlib
import functools
import os
import secrets
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from keras_vidrep import tasks
from keras_vidrep.board import hparams
from keras_vidrep.board.profile import StepProfiler
from keras_vidrep.data import pipeline
from keras_vidrep.errors import ConfigError, VidrepError
from keras_vidrep.export import check_export_target, export_saved_model
from keras_vidrep.runs import checkpoints
from keras_vidrep.runs.directory import RunDir
from keras_vidrep.runtime import cpu
from keras_vidrep.training import autotune
from keras_vidrep.training import budget as budget_lib
from keras_vidrep.training import step as train_step_lib
from keras_vidrep.training.optimizers import optimizer_groups
from keras_vidrep.training.periodic import PeriodicWork
from keras_vidrep.training.run_lock import RunLock
from keras_vidrep.training.strategy import build_strategy, check_same_step, gather_replicas, is_chief
from keras_vidrep.training.summaries import RunningMeans, SummaryWriters
from keras_vidrep.training.watchdog import Watchdog


def resolve_precision(config):
    """`config` with `precision`=auto replaced by the policy chosen for this machine (see the flag's help), or by
    the one its run directory's config.json recorded when the run started, so that a resumed run computes as it
    started."""
    if config.precision != "auto":
        return config
    recorded = config.run_dir.read_config().get("precision") if config.run_dir.has_config() else None
    if recorded in ("float32", "mixed_bfloat16"):
        return config.replace(precision=recorded)
    native = not tf.config.list_physical_devices("GPU") and cpu.native_bfloat16()
    chosen = "mixed_bfloat16" if native else "float32"
    logging.info("--precision=auto: %s on %s", chosen, cpu.describe())
    return config.replace(precision=chosen)


class Trainer(PeriodicWork):
    """Builds the strategy, task, model, optimizer, data and checkpoints of one run and trains it.

    Args:
      config: a validated `Config`.
    """

    def __init__(self, config):
        self._started = budget_lib.clock()
        config = resolve_precision(config)
        self.budget = self.resumed_plan = None
        if config.train_minutes:  # a resumed budgeted run continues the last plan its first run made
            self.resumed_plan = budget_lib.stored_plan(config.run_dir)
            if self.resumed_plan:
                config = config.replace(train_steps=self.resumed_plan["train_steps"])
            else:
                self.budget = budget_lib.TimeBudget(
                    config.train_minutes, self._started, {"validation": config.eval_every, "pictures":
                                                          config.image_every, "checkpoint": config.checkpoint_every},
                    export=config.export)
        self.config = config
        self.task = tasks.create(config)
        self.task.all_examples = gather_replicas
        multi_worker = config.strategy == "multi_worker"
        # A worker other than the chief saves (as every worker must) into a private folder, which its watchdog
        # removes when this process ends, however it ends.
        self.scratch = os.path.join(tempfile.gettempdir(), f"vidrep-worker-{os.getpid()}-{secrets.token_hex(4)}")
        self.watchdog = Watchdog(config.worker_timeout, start_timeout=config.worker_start_timeout,
                                 scratch=self.scratch) if multi_worker else None
        # Collectives may wait as long as the start-up takes; once training runs, the watchdog's step limit holds.
        self.strategy = build_strategy(config.strategy, config.cpu_replicas,
                                       max(config.worker_timeout, config.worker_start_timeout) if multi_worker
                                       else None, config.cluster, config.cluster_port)
        self.chief = is_chief(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % replicas:
            raise ConfigError(f"`batch_size` {config.batch_size} is not divisible by the {replicas} replicas")
        # Read all data and check the export target before writing anything, so that bad input leaves no
        # half-made model directory and a clash is found before the first step, not after the last.
        self.task.prepare_data()
        if self.chief and config.export:
            check_export_target(config.resolved_export_dir, config)
        # One process per model directory: the chief locks it before writing anything there; until the run is
        # ready for its first step, a failure removes what was added.
        self.lock = RunLock(config.model_dir).open() if self.chief else None
        try:
            self._build(config, multi_worker)
        except BaseException:
            if self.lock:
                self.lock.abandon()
            self.close()
            raise

    def _build(self, config, multi_worker):
        if self.chief:
            self.lock.check_config(config)
            self.write_dir = config.run_dir
        else:
            self.write_dir = RunDir(self.scratch)
            os.makedirs(self.scratch)
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        with self.strategy.scope():
            self.model = self.build_model()
            self.optimizer_groups, self.schedules = optimizer_groups(
                config, self.model, self.task.learning_rate_scales(self.model))
            self.optimizer = self.optimizer_groups[0][0]
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step",
                                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        for schedule in self.schedules if self.resumed_plan else ():
            schedule.restore(self.resumed_plan)
        extra = {f"optimizer_{k}": opt for k, (opt, _) in enumerate(self.optimizer_groups[1:], 1)}
        self.manager = checkpoints.checkpoint_manager(self.write_dir, self.model, self.optimizer, self.step,
                                                      config.keep_checkpoints, **extra)
        self.restored = checkpoints.restore_latest(self.manager.checkpoint, config.run_dir)
        if not self.restored:
            self.task.initialize(self.model)
        self.best = checkpoints.BestCheckpoint(self.write_dir, self.model, self.task.best_metric,
                                               self.task.best_mode) if self.task.best_metric else None
        if multi_worker:
            check_same_step(self.strategy, self.step, config.model_dir)
        if config.precision == "mixed_bfloat16" and not tf.config.list_physical_devices("GPU") \
                and cpu.native_bfloat16() is False:
            logging.warning("--precision=mixed_bfloat16 on %s: this CPU has no native bfloat16 (AVX512_BF16 or "
                            "AMX), so bfloat16 products are emulated and expected to be slower than float32; use "
                            "--precision=float32", cpu.describe())
        params = sum(int(np.prod(v.shape)) for v in self.model.trainable_variables)
        replicas = self.strategy.num_replicas_in_sync
        logging.info("%s, %s parameters; global batch %d = %d replica(s) x %d per replica",
                     self.task.describe(self.model), f"{params:,}", config.batch_size, replicas,
                     config.batch_size // replicas)
        # How the recurrent products are computed: as the run started, or measured and recorded now.
        self.config = config = autotune.as_started(config, self.model, config.batch_size // replicas)
        # One optimizer step on the next global batch of an iterator from `batches()`: {name: summed value}.
        self.train_step = self._make_train_step()
        # No autograph: tasks and models are plain Python over keras.ops, traced as they are.
        self._eval_step = tf.function(lambda *batch: self.task.validation_losses(self.model, batch),
                                      autograph=False)
        if self.chief:
            self.lock.write_config(config)
            self.lock.commit()  # config.json now; TensorBoard's folders only for a run that starts
            names, statistics = self.task.class_names(), self.task.input_statistics()
            if names is not None:  # kept with the run: the labels' files may move
                config.run_dir.write_class_names(names)
            if statistics is not None:  # kept with the run: the training file may move or grow
                config.run_dir.write_statistics(statistics)
            if (video_input := self.task.video_input()) is not None:  # how its data were cut, kept with the run
                config.run_dir.write_video_input(video_input.to_json())
        self.summaries = SummaryWriters(config.run_dir, enabled=self.chief)
        if self.chief:  # the run as a session of TensorBoard's HParams dashboard
            hparams.write_session(config.run_dir.hparams, hparams.settings(config))
        self.profiler = StepProfiler(config.run_dir.profile, config.profile_steps, enabled=self.chief)

    def close(self):
        """Releases the model directory, or removes a worker's private folder (the end of `train()` does it; for a
        Trainer that is not trained)."""
        if self.lock:
            self.lock.close()
        elif not self.chief:
            shutil.rmtree(self.scratch, ignore_errors=True)

    @functools.cached_property
    def validation_set(self):
        """The task's fixed validation set (a `ValidationSet`), opened at the first validation."""
        return self.task.validation_set()

    def build_model(self):
        """The task's model under the run's dtype policy (`precision`)."""
        with train_step_lib.dtype_policy(self.config.precision):
            return self.task.build_model()

    def weights_fingerprint(self):
        """SHA-256 of all model weights (see `checkpoints.weights_sha256`)."""
        return checkpoints.weights_sha256(self.model.weights)

    def _make_train_step(self):
        return train_step_lib.make_train_step(self.model, self.optimizer_groups, self.strategy, self.task,
                                              self.step, self.config)

    def batches(self, start_step=None):
        """An iterator over the distributed training batches from global step `start_step` (default: the step the
        run is at), for `train_step`."""
        start = int(self.step.numpy()) if start_step is None else int(start_step)
        return iter(self.strategy.distribute_datasets_from_function(
            lambda ctx: pipeline.train_dataset(self.task, self.config.batch_size, start_step=start,
                                               input_context=ctx)))

    def _kick(self):
        if self.watchdog:
            self.watchdog.kick()

    def _local_work(self):
        """A block of local work (no collectives) that the multi-worker watchdog does not time."""
        return self.watchdog.paused() if self.watchdog else contextlib.nullcontext()

    def save(self, step):
        """A checkpoint at `step`: never of non-finite weights, and one line if the disk is full."""
        with self._local_work():
            return checkpoints.save(self.manager, step, self.model.weights)

    def train(self):
        """Trains up to `train_steps`, then saves a final checkpoint and (optionally) exports. The model directory
        is released at the end, however the run ends.

        Returns:
          dict of final validation losses per frame (free-running; `future_teacher_forced` for a conditional
          future predictor) and the `baseline/...` losses of the mean-frame and copy-last predictors.
        """
        try:
            return self._train()
        finally:
            self.close()

    def _train(self):
        cfg = self.config
        start = int(self.step.numpy())
        if start >= cfg.train_steps:
            logging.info("model_dir already at step %d >= train_steps %d; nothing to train", start, cfg.train_steps)
        iterator = self.batches(start)
        window, val = RunningMeans(), {}
        bar = tqdm(total=cfg.train_steps, initial=start, desc="train", unit="step", dynamic_ncols=True,
                   mininterval=1.0)
        step = start
        try:
            while step < self.config.train_steps:  # a time budget plans train_steps on the way
                step += 1
                with self.profiler.step(step):
                    results = {k: float(v) for k, v in self.train_step(iterator).items()}
                train_step_lib.check_finite(step, results, self.manager.latest_checkpoint)
                if self.watchdog:
                    self.watchdog.arm()  # from the first step on, the step timeout
                self._kick()
                window.add(results)
                bar.update(1)
                bar.set_postfix(loss=f"{results[self.task.progress_key]:.4g}", refresh=False)
                val = self._periodic_work(step, window, bar) or val
                if self.budget and (self.budget.measured() or self.budget.due(step)) \
                        and step < self.config.train_steps:
                    self._plan(step, bar)
                if self.budget and self.budget.over() and step < self.config.train_steps:
                    bar.write(f"step {step}: the {cfg.train_minutes:g}-minute budget is spent before step "
                              f"{self.config.train_steps}; stopping here")
                    self.config, val = self.config.replace(train_steps=step), {}
                    break
        except KeyboardInterrupt:
            bar.close()
            path = self.save(int(self.step.numpy()))
            logging.warning("interrupted: saved %s; run the same command again to resume", path)
            raise
        finally:
            self.profiler.close()
            bar.close()  # before any error message, so that the bar does not end the output
        return self._finish(val)

    def _plan(self, step, bar):
        """Plans `train_steps` and the schedules' pace to what fits the rest of the budget (the first plan times a
        validation first); records the plan."""
        first = not self.budget.plans
        if first:
            self.validate(step)
        total = self.budget.plan(step)
        if first or total != self.config.train_steps:
            bar.write(f"step {step}: {self.budget.elapsed() / 60:.1f} of {self.config.train_minutes:g} minutes "
                      f"spent; the rest fits {total - step} more steps, {total} in all ({self.budget.step_seconds:.3f}"
                      f" s a step, {self.budget.work_seconds.get('validation', 0.0):.1f} s a validation); the schedule "
                      f"ends there ({os.path.basename(self.config.run_dir.budget)})")
        self.config = self.config.replace(train_steps=total)
        for schedule in self.schedules:
            schedule.replan(step, total)
        if self.chief:
            self.budget.write(self.config.run_dir, self.schedules[0].anchors() if self.schedules else {})
            self.config.save(self.config.model_dir)
        bar.total = total

    def _finish(self, val):
        """Final checkpoint, validation (if none ran), clean-up and export."""
        final = int(self.step.numpy())
        if self.manager.latest_checkpoint != os.path.join(self.manager.directory, f"ckpt-{final}"):
            self.save(final)
        self.summaries.flush()
        val = val or self.evaluate()
        if self.watchdog:
            self.watchdog.stop()
        if not self.chief:
            shutil.rmtree(self.scratch, ignore_errors=True)
        elif self.config.export:
            export_saved_model(self.undistributed_model(), self.task, self.config.resolved_export_dir)
        return {**val, **self.baselines}

    def undistributed_model(self):
        """The model itself, or under a distribution strategy a plain copy of it with the same weights."""
        if self.strategy is tf.distribute.get_strategy():  # the default (no) strategy
            return self.model
        copy = self.build_model()
        copy.set_weights(self.model.get_weights())
        return copy


def train(config):
    """Validates `config` and trains.

    Returns:
      dict: `model_dir`, `step` (final), `final_validation` (see `Trainer.train`), `weights_sha256`
      (see `Trainer.weights_fingerprint`) and `chief` (whether this process wrote the outputs).
    """
    try:
        trainer = Trainer(config.validate())
        validation = trainer.train()
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as e:
        if config.strategy != "multi_worker":
            raise
        raise VidrepError(f"multi-worker training stopped: a peer worker is unreachable or died "
                          f"({type(e).__name__}: {str(e).strip().splitlines()[0]})") from None
    return {"model_dir": config.model_dir, "step": int(trainer.step.numpy()), "final_validation": validation,
            "weights_sha256": trainer.weights_fingerprint(), "chief": trainer.chief}
