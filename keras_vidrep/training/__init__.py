"""Training: the tf.distribute strategy and custom loop, checkpoints of the step, TensorBoard summaries, the
watchdog of multi-worker runs, the time budget, and (plain Python) the lock of a run directory and the local
cluster launcher. Nothing here names a model family: the loop speaks to the `Task` interface."""
