"""A fixed held-out set, read by example index one batch at a time: the one shape of every validation and evaluation
set in the package (data readers, tasks, the trainer's validation and vidrep-eval)."""
import numpy as np


class ValidationSet:
    """`count` examples read on demand, so that a set of any size is never whole in memory.

    Args:
      read: a function of example indices (a numpy int array, 0 <= id < count) to the examples: an array, or a tuple
        of arrays, with the examples on the first axis.
      count: the number of examples.
    """

    def __init__(self, read, count):
        self.read, self.count = read, int(count)

    @classmethod
    def of_arrays(cls, arrays):
        """The set of in-memory data: one array, or a tuple of arrays (examples on the first axis)."""
        if isinstance(arrays, tuple):
            return cls(lambda ids: tuple(a[ids] for a in arrays), len(arrays[0]))
        return cls(lambda ids: arrays[ids], len(arrays))

    def __len__(self):
        return self.count

    def map(self, fn):
        """The set whose examples `ids` are `fn(self.read(ids))` (a per-batch transformation)."""
        return ValidationSet(lambda ids: fn(self.read(ids)), self.count)

    def take(self, ids):
        """The examples `ids` (any int array-like)."""
        return self.read(np.asarray(ids, np.int64))

    def whole(self):
        """The whole set at once (for small sets and tests)."""
        return self.read(np.arange(self.count))

    def batches(self, batch_size):
        """The set `batch_size` examples at a time, in order (the last batch may be smaller)."""
        for start in range(0, self.count, batch_size):
            yield self.read(np.arange(start, min(start + batch_size, self.count)))
