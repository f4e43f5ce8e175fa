"""Scheduled sampling: how often a conditional future predictor reads the true previous frame in training.

At every decoder step and for every sequence the predictor reads the true frame with probability p and its own
previous output otherwise. p is a pure function of the global step (the number of updates made before the batch),
so a resumed run continues the same schedule, and the per-step coin flips are drawn from a generator seeded by the
run's seed and the step for the whole global batch, so they do not depend on how the batch is split over replicas.

Schedules (`sampling_schedule`):
  * `teacher_forcing`: p = 1 always (the original training; the fastest path).
  * `constant`: p = `sampling_probability`.
  * `linear`: p falls linearly from `sampling_probability` to `sampling_floor` over `sampling_steps` updates, then
    stays there (PredRNN's Moving MNIST setting: 1.0 to 0 over 50,000 updates).
  * `inverse_sigmoid`: p = k / (k + exp(step / k)) with k = `sampling_k` (Bengio et al., 2015).
  * `free_running`: p = 0 always: the predictor trains on its own outputs, as it runs at inference.
"""
import math

import numpy as np

SCHEDULES = ("teacher_forcing", "constant", "linear", "inverse_sigmoid", "free_running")
FEEDS = ("mean", "sample")
_STREAM = 0x5A3D  # keeps these coin flips apart from other generators seeded by (seed, step)


def truth_probability(schedule, step, probability=1.0, floor=0.0, steps=50000, k=1000.0):
    """p, the probability of reading the true frame, at global step `step` (0 = the first update)."""
    if schedule == "teacher_forcing":
        return 1.0
    if schedule == "constant":
        return float(probability)
    if schedule == "linear":
        return float(probability + (floor - probability) * min(step / steps, 1.0))
    if schedule == "inverse_sigmoid":
        exponent = step / k
        return float(k / (k + math.exp(exponent))) if exponent < 700 else 0.0
    if schedule == "free_running":
        return 0.0
    raise ValueError(f"`sampling_schedule` must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def coin_flips(seed, step, global_batch_size, steps, start, count, frame_dim=None):
    """Uniform [0, 1) draws for sequences start .. start+count-1 of global batch `step`: (count, steps), and with
    `frame_dim` also (count, steps, frame_dim) for Bernoulli samples. The same whatever the split."""
    rng = np.random.default_rng([int(seed), int(step), _STREAM])
    coins = rng.random((global_batch_size, steps), dtype=np.float32)[start:start + count]
    if frame_dim is None:
        return coins, None
    noise = rng.random((global_batch_size, steps, frame_dim), dtype=np.float32)[start:start + count]
    return coins, noise
