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
unchanged; shard files are opened as their rows are read, a few at a time. `owned_items` gives each training
worker an equal contiguous range of the examples (shards are storage, not the unit of ownership).
"""
import collections
import hashlib
import json
import os
import threading

import h5py
import numpy as np

from keras_vidrep.data.checks import attempt_path
from keras_vidrep.errors import DataError

INDEX_MARK = "vidrep_shards"
UNREADABLE = "unreadable_videos"  # attribute of a shard (JSON list) and dataset of the index: videos not read
ROW_DATASETS = ("patches", "frames", "hidden6", "features", "sequences")
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
    """True if `path` is a complete shard with `key` whose every video was read; False if there is no file, or it
    records videos that could not be read (so that a new run tries them again); DataError if the file there is
    something else (it is left as it is). A shard only ever appears under its name complete (an atomic rename of
    its writer's own temporary file), and its rows must add up to its videos' counts."""
    if not os.path.exists(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            theirs = f.attrs.get("shard_key")
            unreadable = json.loads(f.attrs.get(UNREADABLE, "[]"))
            rows = next((len(f[name]) for name in ROW_DATASETS if name in f), None)
            whole = rows is not None and "counts" in f and int(f["counts"][...].sum()) == rows
    except (OSError, ValueError) as e:
        raise DataError(f"shard {path!r} exists and is not a readable HDF5 file ({str(e).splitlines()[0]}); it is "
                        f"left as it is: remove it, or choose another `output`") from None
    theirs = theirs.decode() if isinstance(theirs, bytes) else theirs
    if theirs != key or not whole:
        raise DataError(f"shard {path!r} exists but holds other videos or settings; it is left as it is: resume "
                        f"with the same videos, settings and `shards`, or choose another `output`")
    return not unreadable


def write_index(output, paths, dataset):
    """Writes the index of the shard files `paths` (rows in dataset `dataset`) at `output` (under a temporary name,
    renamed when complete). Returns (videos, rows, the videos the shards could not read)."""
    names, counts, owners, rows, per_shard, settings, unreadable = [], [], [], [], [], {}, []
    for k, path in enumerate(paths):
        with h5py.File(path, "r") as f:
            unreadable += json.loads(f.attrs.get(UNREADABLE, "[]"))
            videos = [v.decode() if isinstance(v, bytes) else str(v) for v in f["videos"][...]]
            names += videos
            counts.append(np.asarray(f["counts"][...], np.int64))
            owners += [k] * len(videos)
            rows.append(len(f[dataset]))
            per_shard.append(len(videos))
            settings = {key: value for key, value in f.attrs.items() if key not in ("shard_key", "shard", UNREADABLE)}
    tmp = attempt_path(output)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("shards", data=np.array([os.path.basename(p) for p in paths], dtype=h5py.string_dtype()))
            f.create_dataset("shard_rows", data=np.array(rows, np.int64))
            f.create_dataset("shard_videos", data=np.array(per_shard, np.int64))
            f.create_dataset("videos", data=np.array(names, dtype=h5py.string_dtype()))
            f.create_dataset("counts", data=np.concatenate(counts))
            f.create_dataset("video_shard", data=np.array(owners, np.int32))
            f.create_dataset(UNREADABLE, data=np.array(unreadable, dtype=h5py.string_dtype()))
            f.attrs.update(settings)
            f.attrs.update({INDEX_MARK: len(paths), "dataset": dataset})
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return len(names), int(sum(rows)), unreadable


def open_hdf5(path, flag="data_file", open_shards=None):
    """An HDF5 dataset file read-only: an h5py.File, or a `ShardedFile` if `path` is the index of shards (keeping
    at most `open_shards` of them open at once; default `ShardedFile.OPEN_SHARDS`)."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"`{flag}` {path!r} is not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    if INDEX_MARK not in f.attrs:
        return f
    try:
        return ShardedFile(path, f, flag, open_shards or ShardedFile.OPEN_SHARDS)
    except BaseException:
        f.close()
        raise


class ConcatenatedRows:
    """The rows of one dataset of every shard, read as one array: slices and sorted index arrays on the first axis,
    like an h5py dataset (each shard is opened, through the file's cache of open shards, only for the rows that lie
    in it)."""

    def __init__(self, sharded, name, value_offsets=None):
        self.sharded, self.name = sharded, name
        self.starts = sharded.row_starts
        self.value_offsets = value_offsets
        row_shape, self.dtype = sharded.layout[name]
        self.shape = (int(self.starts[-1]), *row_shape)
        self.ndim = len(self.shape)

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
                local = slice(int(local[0]), int(local[-1]) + 1)
            values = self.sharded.read(int(k), self.name, local)
            out[mine] = values if self.value_offsets is None else values + self.value_offsets[k]
        return out


class ShardedFile:
    """An index of shards opened read-only, behaving like the h5py.File of the one-file dataset (`in`, `[name]`,
    `attrs`, `keys()`), plus `num_shards` and `shard_of_rows`.

    Shard files are opened when rows in them are read, and at most `open_shards` stay open (the least recently
    read is closed first), so a reader of 1,024 shards needs a handful of file descriptors and chunk caches, not
    one per shard. Opening the index checks every shard once, one at a time: present, readable and holding the
    rows the index gives it.
    """

    OPEN_SHARDS = 16

    def __init__(self, path, index, flag="data_file", open_shards=OPEN_SHARDS):
        if open_shards < 1:
            raise DataError(f"`open_shards` must be a positive integer, got {open_shards}")
        self.path, self.index, self.attrs, self.flag = path, index, index.attrs, flag
        self.open_shards = int(open_shards)
        self._open = collections.OrderedDict()  # shard -> h5py.File, least recently read first
        self._lock = threading.RLock()
        folder = os.path.dirname(os.path.abspath(path))
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in index["shards"][...]]
        self.shard_files = [os.path.join(folder, name) for name in names]
        self.num_shards = len(names)
        rows = np.asarray(index["shard_rows"][...], np.int64)
        dataset = self.attrs["dataset"]
        missing = [shard for shard in self.shard_files if not os.path.isfile(shard)]
        if missing:
            raise DataError(f"`{flag}` {path!r} is an index of {len(names)} shards, but shard {missing[0]!r} is "
                            f"missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                            + ": copy the shard files beside their index")
        try:
            for k, shard in enumerate(self.shard_files):
                f = self._shard(k)
                if len(f[dataset]) != rows[k]:
                    raise DataError(f"`{flag}` {path!r}: shard {shard!r} holds {len(f[dataset])} rows, the index "
                                    f"says {rows[k]}; rewrite the index")
                if k == 0:
                    self.layout = {name: (f[name].shape[1:], f[name].dtype) for name in f
                                   if name not in PER_VIDEO}
        except BaseException:
            self._close_shards()
            raise
        self.row_starts = np.concatenate([[0], np.cumsum(rows)])
        self.video_starts = np.concatenate([[0], np.cumsum(index["shard_videos"][...])])[:-1]
        self._cache = {}

    def _shard(self, k):
        """The open h5py.File of shard `k` (opened, and the least recently read closed, as needed)."""
        with self._lock:
            f = self._open.pop(k, None)
            if f is None:
                while len(self._open) >= self.open_shards:
                    self._open.popitem(last=False)[1].close()
                try:
                    f = h5py.File(self.shard_files[k], "r")
                except OSError as e:
                    raise DataError(f"`{self.flag}` {self.path!r}: shard {self.shard_files[k]!r} is not a readable "
                                    f"HDF5 file ({str(e).splitlines()[0]})") from None
            self._open[k] = f  # the most recently read
            return f

    def read(self, k, name, rows):
        """Rows `rows` (a slice or a sorted index array) of dataset `name` of shard `k`."""
        with self._lock:  # the shard stays open while it is read
            return self._shard(k)[name][rows]

    def keys(self):
        return [k for k in self.layout if k not in PER_VIDEO] + list(PER_VIDEO)

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, name):
        return name in PER_VIDEO or name in self.layout

    def __getitem__(self, name):
        if name in PER_VIDEO:
            return self.index[name]
        if name not in self._cache:
            if name not in self.layout:
                raise KeyError(name)
            offsets = self.video_starts if name == VIDEO_NUMBERS else None
            self._cache[name] = ConcatenatedRows(self, name, offsets)
        return self._cache[name]

    def shard_of_rows(self, rows):
        """The shard of each row (any integer array)."""
        return np.searchsorted(self.row_starts, np.asarray(rows, np.int64), side="right") - 1

    def open_shard_count(self):
        """How many shard files are open now."""
        return len(self._open)

    def _close_shards(self):
        with self._lock:
            while self._open:
                self._open.popitem()[1].close()

    def close(self):
        self._close_shards()
        if self.index.id.valid:
            self.index.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: h5py may be gone
            pass


def owned_items(handle, count, part, parts):
    """The items [first, end) that worker `part` of `parts` reads of the `count` items (in file order) of a
    sharded file: equal contiguous ranges (±1) across shard boundaries, so that every item is drawn at the same
    rate whatever the shard sizes and the number of workers, and a worker opens only the few shards its range
    spans; None if `handle` is not sharded."""
    if not isinstance(handle, ShardedFile):
        return None
    if count < parts:
        raise DataError(f"`data_file` {handle.path!r} has {count} training examples, fewer than the {parts} "
                        f"workers that read it")
    return part * count // parts, (part + 1) * count // parts
