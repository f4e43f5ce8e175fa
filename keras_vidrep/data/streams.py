"""Endless, seeded, resumable streams of examples: sample k of a stream is a pure function of (seed, stream, k), so
a run resumes at any step and splits over replicas without changing what it reads.
"""
import threading

import numpy as np

from keras_vidrep.data.shards import owned_items


def spread(rows, count):
    """At most `count` of `rows` (any array, first axis), evenly spaced from the first to the last."""
    return rows[np.unique(np.linspace(0, len(rows) - 1, min(count, len(rows))).astype(np.int64))]


def batch_ids(step, batch_size, start=0, count=None, owner=None):
    """Sample numbers of rows [start, start + count) of global batch number `step` (all of it by default).

    With `owner` = (part, parts), the stream walks only worker `part`'s examples (a sharded file split between
    `parts` workers): the global batch is the workers' own batches of batch_size / parts together, and the numbers
    are positions in worker `part`'s own walk."""
    count = batch_size - start if count is None else count
    if owner is not None:
        part, parts = owner
        batch_size //= parts
        start -= part * batch_size
    first = int(step) * int(batch_size) + int(start)
    return np.arange(first, first + count)


class PermutationWalk:
    """Position k of an endless walk over a set of `count` items: pass k // count visits the items in a permutation
    of its own, drawn from (seed, stream, pass). A pure function of k, safe to call from parallel tf.data threads.
    """

    CACHED_PASSES = 4

    def __init__(self, count, seed=0, stream=0):
        self.count, self.seed, self.stream = int(count), int(seed), int(stream)
        self._cache = {}
        self._lock = threading.Lock()

    def indices(self, positions):
        """Item index at each walk position (any integer array shape)."""
        positions = np.asarray(positions, np.int64)
        passes, offsets = np.divmod(positions, self.count)
        out = np.empty_like(positions)
        for p in np.unique(passes):
            mask = passes == p
            out[mask] = self.permutation(int(p))[offsets[mask]]
        return out

    def permutation(self, walk_pass):
        with self._lock:
            perm = self._cache.get(walk_pass)
            if perm is None:
                perm = np.random.default_rng([self.seed, self.stream, 2**31 + walk_pass]).permutation(self.count)
                self._cache[walk_pass] = perm
                while len(self._cache) > self.CACHED_PASSES:
                    self._cache.pop(min(self._cache))
            return perm


class ShuffledStream:
    """The items of a finite source in a fresh random order every pass.

    Args:
      read: a function from item indices (n,) to a batch of those items.
      count: how many items the source has.
      seed, stream: as `PermutationWalk`.
    """

    def __init__(self, read, count, seed=0, stream=0):
        self._read, self._seed, self._stream = read, seed, stream
        self._items = self.owner = None  # all of them
        self._walk = PermutationWalk(count, seed, stream)

    def keep_to_shards(self, handle, item_rows, part, parts, flag="data_file"):
        """From now on walk only the items (source indices) whose first rows `item_rows` lie in worker `part` of
        `parts`'s shards of the file `handle` (see keras_vidrep.data.shards); False, changing nothing, if the file
        is not sharded."""
        items = owned_items(handle, item_rows, part, parts, flag)
        if items is None:
            return False
        self._items, self.owner = np.asarray(items, np.int64), (part, parts)
        self._walk = PermutationWalk(len(self._items), self._seed, self._stream)
        return True

    def sequences(self, sample_ids):
        """The items at stream positions `sample_ids`."""
        picked = self._walk.indices(np.asarray(sample_ids, np.int64))
        return self._read(picked if self._items is None else self._items[picked])

    def batch(self, step, batch_size, start=0, count=None):
        """Rows [start, start + count) of the global batch number `step` (all of it by default)."""
        return self.sequences(batch_ids(step, batch_size, start, count, self.owner))
