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

    Up to `EXPLICIT_LIMIT` items a pass is a NumPy permutation (held as int32, at most `CACHED_PASSES` of them);
    above it, a keyed Feistel bijection of [0, count) computed for the positions asked for, so that a walk over
    160 M windows holds no array of its items.
    """

    CACHED_PASSES = 2
    EXPLICIT_LIMIT = 1 << 24  # 64 MB a cached pass
    ROUNDS = 4

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
            out[mask] = (self.permutation(int(p))[offsets[mask]] if self.count <= self.EXPLICIT_LIMIT
                         else feistel(offsets[mask], self.count, self._keys(int(p))))
        return out

    def _keys(self, walk_pass):
        return np.random.default_rng([self.seed, self.stream, 2**31 + walk_pass]).integers(
            0, 2**63, self.ROUNDS, dtype=np.uint64)

    def permutation(self, walk_pass):
        """The items in the order of pass `walk_pass` (an array: for walks up to `EXPLICIT_LIMIT` items)."""
        with self._lock:
            perm = self._cache.get(walk_pass)
            if perm is None:
                perm = np.random.default_rng([self.seed, self.stream, 2**31 + walk_pass]).permutation(self.count)
                perm = perm.astype(np.int32 if self.count < 2**31 else np.int64)
                self._cache[walk_pass] = perm
                while len(self._cache) > self.CACHED_PASSES:
                    self._cache.pop(min(self._cache))
            return perm


def _mix(values, key):
    """SplitMix64's finaliser of `values` + `key` (uint64, wrapping)."""
    z = values + key
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def feistel(values, count, keys):
    """The image of `values` (integers in [0, count)) under a bijection of [0, count) keyed by `keys` (one uint64
    per round): a balanced Feistel network on the smallest even number of bits that holds `count`, walked again
    while its output falls outside [0, count) (cycle walking), so the result stays a permutation of [0, count)."""
    bits = max(2, int(count - 1).bit_length())
    half = np.uint64((bits + 1) // 2)
    mask = np.uint64((1 << int(half)) - 1)
    out = np.asarray(values, np.int64).copy()
    todo = np.arange(out.size)
    x = out.reshape(-1).astype(np.uint64)
    flat = out.reshape(-1)
    with np.errstate(over="ignore"):
        while todo.size:
            left, right = x >> half, x & mask
            for key in keys:
                left, right = right, left ^ (_mix(right, np.uint64(key)) & mask)
            x = (left << half) | right
            inside = x < np.uint64(count)
            flat[todo[inside]] = x[inside].astype(np.int64)
            todo, x = todo[~inside], x[~inside]
    return out


class ShuffledStream:
    """The items of a finite source in a fresh random order every pass.

    Args:
      read: a function from item indices (n,) to a batch of those items.
      count: how many items the source has.
      seed, stream: as `PermutationWalk`.
    """

    def __init__(self, read, count, seed=0, stream=0):
        self._read, self._seed, self._stream = read, seed, stream
        self._first, self._count, self.owner = 0, int(count), None  # all of them
        self._walk = PermutationWalk(count, seed, stream)

    def keep_to_shards(self, handle, part, parts):
        """From now on walk only worker `part` of `parts`'s equal contiguous range of the items (see
        keras_vidrep.data.shards.owned_items); False, changing nothing, if the file `handle` is not sharded."""
        owned = owned_items(handle, self._count, part, parts)
        if owned is None:
            return False
        self._first, self.owner = owned[0], (part, parts)
        self._walk = PermutationWalk(owned[1] - owned[0], self._seed, self._stream)
        return True

    @property
    def items(self):
        """The source items this stream walks (all of them, or a worker's range)."""
        return range(self._first, self._first + self._walk.count)

    def sequences(self, sample_ids):
        """The items at stream positions `sample_ids`."""
        return self._read(self._first + self._walk.indices(np.asarray(sample_ids, np.int64)))

    def batch(self, step, batch_size, start=0, count=None):
        """Rows [start, start + count) of the global batch number `step` (all of it by default)."""
        return self.sequences(batch_ids(step, batch_size, start, count, self.owner))
