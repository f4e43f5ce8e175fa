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
    """`rows` (a 1-d integer array) in consecutive pieces of at most `block` rows."""
    rows = np.asarray(rows, np.int64)
    for start in range(0, len(rows), block):
        yield rows[start:start + block]


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
