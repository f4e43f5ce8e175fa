"""Bouncing (Moving) MNIST, generated on the fly with the original rules, vectorized and seeded.

The rules (one digit):
  * start position (x, y) ~ U[0, 1)^2, direction theta ~ U[0, 2*pi), velocity (cos theta, sin theta) * step_length;
  * every frame, first take the step, then record the position (so frame 0 is already one step from the start);
  * a coordinate that reaches <= 0 or >= 1 is clamped to the edge and that velocity component flips;
  * pixel offset = int((canvas_size - digit_size) * position): x gives the column, y the row;
  * digits in one frame are combined with an elementwise maximum.

Digits are taken in the order of a shuffled permutation of the digit set that is reshuffled after every pass, as the
original does. Each sequence is a pure function of (seed, stream, sample number), so a stream can be resumed at any
step and split across replicas without changing what is generated.
"""
import numpy as np

from keras_vidrep.data.streams import PermutationWalk, batch_ids
from keras_vidrep.errors import ConfigError

TRAIN_STREAM, VALIDATION_STREAM = 0, 1


class BouncingMNIST:
    """Generates Bouncing MNIST sequences.

    Args:
      digits: float32 array (N, digit_size, digit_size) in [0, 1].
      canvas_size: height and width of the canvas in pixels.
      num_digits: digits per sequence.
      seq_length: frames per sequence.
      step_length: distance per frame as a fraction of the free range (canvas_size - digit_size).
      seed: base seed.
      stream: separates independent streams that share a seed (training vs validation).
      speed_range: None (the original: every digit moves `step_length` a frame), or (low, high): each digit's step
        length drawn uniformly from it, for a speed to learn or probe. The other draws, and so the pixels of the
        original rules, are the same either way.
    """

    def __init__(self, digits, canvas_size=64, num_digits=2, seq_length=20, step_length=0.1, seed=0,
                 stream=TRAIN_STREAM, speed_range=None):
        digits = np.asarray(digits, np.float32)
        if digits.ndim != 3 or digits.shape[1] != digits.shape[2] or len(digits) == 0:
            raise ConfigError(f"`digits` must be a non-empty (N, S, S) array, got shape {digits.shape}")
        if digits.shape[1] > canvas_size:
            raise ConfigError(f"digit size {digits.shape[1]} exceeds `canvas_size` {canvas_size}")
        for name, value in (("num_digits", num_digits), ("seq_length", seq_length)):
            if int(value) != value or value <= 0:
                raise ConfigError(f"`{name}` must be a positive integer, got {value!r}")
        self.digits = digits
        self.digit_size = digits.shape[1]
        self.canvas_size = int(canvas_size)
        self.num_digits = int(num_digits)
        self.seq_length = int(seq_length)
        self.step_length = float(step_length)
        self.seed = int(seed)
        self.stream = int(stream)
        if speed_range is not None:
            low, high = (float(v) for v in speed_range)
            if not 0.0 < low <= high:
                raise ConfigError(f"`speed_range` must be (low, high) with 0 < low <= high, got {speed_range!r}")
            speed_range = (low, high)
        self.speed_range = speed_range
        self._walk = PermutationWalk(len(self.digits), self.seed, self.stream)

    def positions(self, sample_ids):
        """Float trajectories in [0, 1]: (y, x), each (n, num_digits, seq_length)."""
        ys, xs, _, _ = self.trajectories(sample_ids)
        return ys, xs

    def trajectories(self, sample_ids):
        """(y, x, v_y, v_x), each (n, num_digits, seq_length): the positions of every frame and the velocity the
        digit leaves that frame with (after a bounce), in fractions of the free range per frame."""
        sample_ids = np.asarray(sample_ids, np.int64).reshape(-1)
        rows = 3 + (self.speed_range is not None)
        draws = np.stack([np.random.default_rng([self.seed, self.stream, int(i)]).random((rows, self.num_digits))
                          for i in sample_ids]) if len(sample_ids) else np.zeros((0, rows, self.num_digits))
        y, x, theta = draws[:, 0].copy(), draws[:, 1].copy(), draws[:, 2] * 2.0 * np.pi
        step = self.step_length if self.speed_range is None else (
            self.speed_range[0] + (self.speed_range[1] - self.speed_range[0]) * draws[:, 3])
        v_y, v_x = np.sin(theta) * step, np.cos(theta) * step
        ys, xs = np.empty(y.shape + (self.seq_length,)), np.empty(y.shape + (self.seq_length,))
        vys, vxs = np.empty_like(ys), np.empty_like(ys)
        for t in range(self.seq_length):
            y = y + v_y
            x = x + v_x
            y, v_y = _bounce(y, v_y)
            x, v_x = _bounce(x, v_x)
            ys[..., t], xs[..., t], vys[..., t], vxs[..., t] = y, x, v_y, v_x
        return ys, xs, vys, vxs

    def pixel_offsets(self, sample_ids):
        """Top-left corners (rows, cols) of each digit, int arrays (n, num_digits, seq_length)."""
        ys, xs = self.positions(sample_ids)
        free = self.canvas_size - self.digit_size
        return (free * ys).astype(np.int32), (free * xs).astype(np.int32)

    def digit_indices(self, sample_ids):
        """Index into `digits` of each digit, (n, num_digits): a walk over reshuffled permutations."""
        k = np.asarray(sample_ids, np.int64).reshape(-1, 1) * self.num_digits + np.arange(self.num_digits)
        return self._walk.indices(k)

    def sequences(self, sample_ids):
        """Renders the given samples: float32 (n, seq_length, canvas_size, canvas_size) in [0, 1]."""
        return self._render(sample_ids)

    def frames(self, sample_ids, times):
        """Renders only frame `times[i]` of sample i: float32 (n, canvas_size, canvas_size), the same pixels as
        `sequences(sample_ids)[i, times[i]]` at a fraction of the cost."""
        return self._render(sample_ids, times)[:, 0]

    def _render(self, sample_ids, times=None):
        sample_ids = np.asarray(sample_ids, np.int64).reshape(-1)
        rows, cols = self.pixel_offsets(sample_ids)
        n, size = len(sample_ids), self.digit_size
        if times is not None:  # keep one time step per sample: (n, D, 1)
            pick = (np.arange(n), slice(None), np.asarray(times, np.int64).reshape(-1))
            rows, cols = rows[pick][..., None], cols[pick][..., None]
        steps = rows.shape[2]
        chosen = self.digits[self.digit_indices(sample_ids)]  # (n, D, S, S)
        out = np.zeros((n, steps, self.canvas_size, self.canvas_size), np.float32)
        # Every S x S window of every canvas, as a writeable view: a digit is drawn by selecting one window per
        # (sample, step), an index of n x T blocks rather than of n x T x S x S pixels.
        windows = np.lib.stride_tricks.sliding_window_view(out, (size, size), axis=(2, 3), writeable=True)
        b, t = np.arange(n)[:, None], np.arange(steps)[None, :]
        for d in range(self.num_digits):  # overlapping digits combine by their maximum, taken on the window only
            where = (b, t, rows[:, d], cols[:, d])
            digit = chosen[:, d, None]  # (n, 1, S, S)
            windows[where] = digit if d == 0 else np.maximum(windows[where], digit)
        return out

    def batch(self, step, batch_size, start=0, count=None):
        """Rows [start, start + count) of the global batch number `step` (all of it by default)."""
        return self.sequences(batch_ids(step, batch_size, start, count))


def _bounce(position, velocity):
    """Clamps to [0, 1] and flips the velocity component of every coordinate that reached an edge."""
    hit = (position <= 0.0) | (position >= 1.0)
    return np.clip(position, 0.0, 1.0), np.where(hit, -velocity, velocity)
