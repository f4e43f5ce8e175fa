"""Sharded datasets: N shard files of the one-file layout, plus one index file that reads as the whole.

`vidrep-preprocess --shards=N` and `vidrep-features --shards=N` write

  OUTPUT-00000-of-0000N.h5 ... OUTPUT-0000{N-1}-of-0000N.h5   each a complete dataset of its own videos
  OUTPUT.h5                                                   the index

Videos are given to shards in order, in contiguous runs of nearly equal length, from the sorted video list and the
shard count alone, so the content never depends on how many workers wrote it. A shard is a file of the same layout
as a one-file dataset (`patches`, `frames`, `features` or `hidden6`, with `video_index`, `videos`, `counts`).
The index holds

  `shards` (S,) shard file names (beside the index), `shard_rows` (S,) rows and `shard_videos` (S,) videos of each;
  `videos` (V,) every video in order, `counts` (V,) its rows, `video_shard` (V,) its shard;
  attributes: `vidrep_shards` (S), `dataset` (the rows' dataset name) and the shards' settings.

`open_hdf5` opens an index as a read-only, h5py-like `ShardedFile` whose datasets are the shards' concatenated in
order (with `video_index` numbered over all videos), so every reader of one-file datasets reads a sharded one
unchanged, and `owned_items` lets each training worker keep to its own shards.
"""
import hashlib
import json
import os

import numpy as np

from keras_vidrep.errors import DataError

INDEX_MARK = "vidrep_shards"
VIDEO_NUMBERS = "video_index"  # row datasets holding video numbers: renumbered over all shards
PER_VIDEO = ("videos", "counts")  # datasets of the index itself


def shard_paths(output, count):
    """The shard files of an index at `output`: OUTPUT-00000-of-0000N.h5 ..."""
    stem, ext = os.path.splitext(output)
    return [f"{stem}-{k:05d}-of-{count:05d}{ext or '.h5'}" for k in range(count)]


def assign(videos, count):
    """`videos` (a sorted list) in `count` contiguous runs of nearly equal length: [(first video number, videos)]."""
    if count <= 0:
        raise DataError(f"`shards` must be a positive integer, got {count}")
    if len(videos) < count:
        raise DataError(f"`shards`={count} is more than the {len(videos)} videos: use at most {len(videos)} shards")
    bounds = np.linspace(0, len(videos), count + 1).round().astype(int)
    return [(int(a), list(videos[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


def shard_key(settings, videos):
    """A digest of what a shard holds: its settings and its videos. A shard file with another key is not resumed."""
    text = json.dumps({"settings": settings, "videos": list(videos)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def finished(path, key):
    """True if `path` is a complete shard with `key`; False if there is no file; DataError if the file there is
    something else (it is left as it is)."""
    import h5py

    if not os.path.exists(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            theirs = f.attrs.get("shard_key")
    except OSError as e:
        raise DataError(f"shard {path!r} exists and is not a readable HDF5 file ({str(e).splitlines()[0]}); it is "
                        f"left as it is: remove it, or choose another `output`") from None
    theirs = theirs.decode() if isinstance(theirs, bytes) else theirs
    if theirs != key:
        raise DataError(f"shard {path!r} exists but holds other videos or settings; it is left as it is: resume "
                        f"with the same videos, settings and `shards`, or choose another `output`")
    return True


def write_index(output, paths, dataset):
    """Writes the index of the shard files `paths` (rows in dataset `dataset`) at `output` (under a temporary name,
    renamed when complete). Returns (videos, rows)."""
    import h5py

    names, counts, owners, rows, per_shard, settings = [], [], [], [], [], {}
    for k, path in enumerate(paths):
        with h5py.File(path, "r") as f:
            videos = [v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][...]]
            names += videos
            counts.append(np.asarray(f["counts"][...], np.int64))
            owners += [k] * len(videos)
            rows.append(len(f[dataset]))
            per_shard.append(len(videos))
            settings = {key: value for key, value in f.attrs.items() if key not in ("shard_key", "shard")}
    tmp = output + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("shards", data=np.array([os.path.basename(p) for p in paths], dtype=h5py.string_dtype()))
            f.create_dataset("shard_rows", data=np.array(rows, np.int64))
            f.create_dataset("shard_videos", data=np.array(per_shard, np.int64))
            f.create_dataset("videos", data=np.array(names, dtype=h5py.string_dtype()))
            f.create_dataset("counts", data=np.concatenate(counts))
            f.create_dataset("video_shard", data=np.array(owners, np.int32))
            f.attrs.update(settings)
            f.attrs.update({INDEX_MARK: len(paths), "dataset": dataset})
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return len(names), int(sum(rows))


def open_hdf5(path, flag="data_file"):
    """An HDF5 dataset file read-only: an h5py.File, or a `ShardedFile` if `path` is the index of shards."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"`{flag}` {path!r} is not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    return ShardedFile(path, f, flag) if INDEX_MARK in f.attrs else f


class ConcatenatedRows:
    """The rows of one dataset of every shard, read as one array: slices and sorted index arrays on the first axis,
    like an h5py dataset (each shard is read only for the rows that lie in it)."""

    def __init__(self, parts, value_offsets=None):
        self.parts = parts
        self.starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        self.value_offsets = value_offsets
        self.shape = (int(self.starts[-1]), *parts[0].shape[1:])
        self.dtype, self.ndim = parts[0].dtype, len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if key is Ellipsis or (isinstance(key, tuple) and not key):
            key = slice(None)
        if isinstance(key, (int, np.integer)):
            return self[np.array([int(key)])][0]
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            if step != 1:
                raise IndexError("sharded rows are read with slices of step 1")
            rows = np.arange(start, stop)
        else:
            rows = np.asarray(key, np.int64).reshape(-1)
            if len(rows) > 1 and np.any(np.diff(rows) <= 0):
                raise IndexError("sharded rows are read in increasing order, like an h5py dataset")
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        owner = np.searchsorted(self.starts, rows, side="right") - 1
        for k in np.unique(owner):
            mine = np.flatnonzero(owner == k)
            local = rows[mine] - self.starts[k]
            if local[-1] - local[0] + 1 == len(local):  # one run: one slice
                values = self.parts[k][int(local[0]):int(local[-1]) + 1]
            else:
                values = self.parts[k][local]
            out[mine] = values if self.value_offsets is None else values + self.value_offsets[k]
        return out


class ShardedFile:
    """An index of shards opened read-only, behaving like the h5py.File of the one-file dataset (`in`, `[name]`,
    `attrs`, `keys()`), plus `num_shards` and `shard_of_rows`."""

    def __init__(self, path, index, flag="data_file"):
        import h5py

        self.path, self.index, self.attrs = path, index, index.attrs
        folder = os.path.dirname(os.path.abspath(path))
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in index["shards"][...]]
        self.num_shards = len(names)
        self.files = []
        for name in names:
            shard = os.path.join(folder, name)
            if not os.path.isfile(shard):
                raise DataError(f"`{flag}` {path!r} is an index of {len(names)} shards, but shard {shard!r} is "
                                f"missing: copy the shard files beside their index")
            try:
                self.files.append(h5py.File(shard, "r"))
            except OSError as e:
                raise DataError(f"`{flag}` {path!r}: shard {shard!r} is not a readable HDF5 file "
                                f"({str(e).splitlines()[0]})") from None
        rows = np.asarray(index["shard_rows"][...], np.int64)
        if [len(f[self.attrs["dataset"]]) for f in self.files] != rows.tolist():
            raise DataError(f"`{flag}` {path!r}: the shards' rows differ from the index's; rewrite the index")
        self.row_starts = np.concatenate([[0], np.cumsum(rows)])
        self.video_starts = np.concatenate([[0], np.cumsum(index["shard_videos"][...])])[:-1]
        self._cache = {}

    def keys(self):
        return [k for k in self.files[0].keys() if k not in PER_VIDEO] + list(PER_VIDEO)

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, name):
        return name in PER_VIDEO or name in self.files[0]

    def __getitem__(self, name):
        if name in PER_VIDEO:
            return self.index[name]
        if name not in self._cache:
            if name not in self.files[0]:
                raise KeyError(name)
            offsets = self.video_starts if name == VIDEO_NUMBERS else None
            self._cache[name] = ConcatenatedRows([f[name] for f in self.files], offsets)
        return self._cache[name]

    def shard_of_rows(self, rows):
        """The shard of each row (any integer array)."""
        return np.searchsorted(self.row_starts, np.asarray(rows, np.int64), side="right") - 1

    def close(self):
        for f in (*self.files, self.index):
            f.close()


def owned_items(handle, item_rows, part, parts, flag="data_file"):
    """The items (indices into `item_rows`, the first row of each item) that worker `part` of `parts` reads: those
    in shards part, part + parts, part + 2 parts, ... of a sharded file; None if `handle` is not sharded."""
    if not isinstance(handle, ShardedFile):
        return None
    if handle.num_shards < parts:
        raise DataError(f"`{flag}` {handle.path!r} has {handle.num_shards} shards, fewer than the {parts} workers "
                        f"that read it: write it with `shards` >= {parts}")
    mine = np.flatnonzero(handle.shard_of_rows(item_rows) % parts == part)
    if not len(mine):
        raise DataError(f"`{flag}` {handle.path!r}: worker {part}'s shards hold no training example")
    return mine
