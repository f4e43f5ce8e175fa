"""Rows of a large array read without holding the array: numpy arrays, memory maps and h5py datasets alike.

A request is read as runs of consecutive rows (one slice each), so that overlapping windows of a video read their
frames once, and a random batch reads one short slice per row; h5py's point selection is never used.
"""
import numpy as np

BLOCK_BYTES = 32 << 20  # values read at once by a reduction over many rows (as float64)


def take_rows(array, rows):
    """`array[rows]` for an integer array `rows` of any shape (any order, repeats allowed): a numpy array of shape
    (*rows.shape, *array.shape[1:]) in the array's dtype."""
    rows = np.asarray(rows, np.int64)
    flat = rows.reshape(-1)
    if not len(flat):
        return np.zeros((*rows.shape, *array.shape[1:]), array.dtype)
    if isinstance(array, np.ndarray):  # in memory or a memory map: numpy reads it directly
        return np.asarray(array[flat]).reshape(*rows.shape, *array.shape[1:])
    unique, inverse = np.unique(flat, return_inverse=True)
    breaks = np.flatnonzero(np.diff(unique) != 1) + 1
    parts = [np.asarray(array[int(run[0]):int(run[-1]) + 1]) for run in np.split(unique, breaks)]
    values = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return values[inverse].reshape(*rows.shape, *array.shape[1:])


def row_blocks(rows, block):
    """`rows` (a 1-d integer array or `Runs`) in consecutive arrays of at most `block` rows."""
    for start in range(0, len(rows), block):
        yield np.asarray(rows[np.arange(start, min(start + block, len(rows)))], np.int64)


def mean_and_std(array, rows):
    """Per-value mean and standard deviation (float64) of `array[rows]`, read block by block: memory stays flat in
    the number of rows."""
    total = squares = None
    row_bytes = 8 * max(1, int(np.prod(array.shape[1:], dtype=np.int64)))
    for block in row_blocks(rows, max(1, BLOCK_BYTES // row_bytes)):
        values = take_rows(array, block).astype(np.float64)
        total = values.sum(axis=0) if total is None else total + values.sum(axis=0)
        squares = (values ** 2).sum(axis=0) if squares is None else squares + (values ** 2).sum(axis=0)
    mean = total / len(rows)
    return mean, np.sqrt(np.maximum(squares / len(rows) - mean ** 2, 0.0))


class Runs:
    """A sequence of integers held as runs, in O(runs) memory however many values it has: run j holds the
    `count[j]` values first[j], first[j] + step, first[j] + 2 step, ...; value k of the sequence is the k-th in run
    order. The training windows or clips of a video set (one run per video), or the rows a split keeps, at any
    size: 650k videos of 160 M frames take a few MB, where an array of every value takes 1.3 GB.

    Args:
      first, count: (runs,) integer arrays (runs of count 0 are allowed and keep run numbers aligned with videos).
      step: the distance between consecutive values of a run.
    """

    def __init__(self, first, count, step=1):
        self.first = np.asarray(first, np.int64).reshape(-1)
        self.count = np.maximum(np.asarray(count, np.int64).reshape(-1), 0)
        if self.first.shape != self.count.shape:
            raise ValueError(f"`first` and `count` differ in length: {len(self.first)} and {len(self.count)}")
        self.step = int(step)
        self.ends = np.cumsum(self.count)  # item k lies in the first run whose end exceeds k

    def __len__(self):
        return int(self.ends[-1]) if len(self.ends) else 0

    def run_of(self, items):
        """The run of each item (any integer array shape)."""
        return np.searchsorted(self.ends, np.asarray(items, np.int64), side="right")

    def __getitem__(self, items):
        """The values of `items` (any integer array shape; a slice gives a `Runs` of those items)."""
        if isinstance(items, slice):
            start, stop, _ = items.indices(len(self))
            return self.select(start, stop)
        items = np.asarray(items, np.int64)
        run = self.run_of(items)
        return self.first[run] + self.step * (items - (self.ends[run] - self.count[run]))

    def select(self, start, stop):
        """Items [start, stop) as a `Runs` of the same runs (those outside emptied)."""
        before = self.ends - self.count
        skip = np.clip(start - before, 0, self.count)
        keep = np.clip(np.minimum(stop, self.ends) - before - skip, 0, None)
        return Runs(self.first + self.step * skip, keep, self.step)

    def values(self):
        """Every value as one array (for small sets)."""
        return self[np.arange(len(self))]
