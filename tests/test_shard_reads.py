"""Reading sharded datasets at cluster sizes: 1,024 shard files under a low open-file limit, descriptors bounded
by the cache of open shards, nothing left open by an error, and index structures that stay a few numbers per video.
"""
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from keras_vidrep.data import shards
from keras_vidrep.data.patches import SequenceFile
from keras_vidrep.errors import DataError


def write_tiny_shards(output, count, seed=0):
    """`count` shards of 1-3 two-frame 2x2 patch sequences each (one video a shard), plus their index; every
    sequence's pixels hold its global number, so a read can be checked. Returns the number of sequences."""
    rng = np.random.default_rng(seed)
    paths, total = shards.shard_paths(str(output), count), 0
    for k, path in enumerate(paths):
        n = int(rng.integers(1, 4))
        values = (np.arange(total, total + n) % 251).astype(np.uint8)
        with h5py.File(path, "w") as f:
            f["patches"] = np.broadcast_to(values[:, None, None, None, None], (n, 2, 2, 2, 3))
            f["video_index"] = np.zeros(n, np.int32)
            f["start_frame"] = np.zeros(n, np.int32)
            f["videos"] = np.array([f"video{k:04d}.avi"], dtype=h5py.string_dtype())
            f["counts"] = np.array([n], np.int64)
        total += n
    shards.write_index(str(output), paths, "patches")
    return total


def open_descriptors():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def many_shards(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    return folder / "p.h5", write_tiny_shards(folder / "p.h5", 1024)


def test_every_row_of_1024_shards_read_through_tf_data_under_an_open_file_limit_of_256(many_shards):
    index, total = many_shards
    script = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        import numpy as np
        import tensorflow as tf
        from keras_vidrep.data.patches import SequenceFile, SequenceStream
        from keras_vidrep.data.pipeline import streamed_dataset
        from keras_vidrep.data.validation_set import ValidationSet

        file = SequenceFile({str(index)!r}, 2, (2, 2, 3))
        seen = np.concatenate([b[0].numpy()[:, 0, 0, 0, 0] for b in streamed_dataset(
            ValidationSet(lambda ids: (file.read(ids),), len(file)), 64)])
        stream = SequenceStream(file, seed=1)  # a random order: shards visited again and again
        walked = np.concatenate([stream.batch(step, 64)[:, 0, 0, 0, 0] for step in range(-(-len(file) // 64))])
        print(len(file), np.array_equal(np.round(seen * 255), np.arange(len(file)) % 251),
              sorted(set(np.round(walked * 255).astype(int))) == sorted(set(np.arange(len(file)) % 251)))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == [str(total), "True", "True"]


def test_open_descriptors_stay_within_the_cache_of_open_shards(many_shards):
    index, total = many_shards
    before = open_descriptors()
    file = SequenceFile(str(index), 2, (2, 2, 3))
    handle = file._file
    assert handle.open_shard_count() <= shards.ShardedFile.OPEN_SHARDS
    rng = np.random.default_rng(0)
    for _ in range(20):  # random batches, touching many shards each
        file.read(rng.integers(0, total, 64))
        assert handle.open_shard_count() <= shards.ShardedFile.OPEN_SHARDS
        assert open_descriptors() - before <= shards.ShardedFile.OPEN_SHARDS + 1  # the shards and the index
    handle.close()
    assert open_descriptors() == before


def test_a_bad_shard_is_one_line_and_leaves_no_file_open(tmp_path):
    write_tiny_shards(tmp_path / "p.h5", 40)
    (tmp_path / "p-00030-of-00040.h5").write_text("not HDF5")
    before = open_descriptors()
    with pytest.raises(DataError, match=r"shard '.*p-00030-of-00040.h5' is not a readable HDF5 file"):
        SequenceFile(str(tmp_path / "p.h5"), 2, (2, 2, 3))
    assert open_descriptors() == before
    os.remove(tmp_path / "p-00039-of-00040.h5")
    with pytest.raises(DataError, match=r"shard '.*p-00039-of-00040.h5' is\s+missing"):
        shards.open_hdf5(str(tmp_path / "p.h5"))
    assert open_descriptors() == before


def test_index_structures_stay_a_few_numbers_per_video():
    from keras_vidrep.data.rows import Runs
    from keras_vidrep.data.streams import PermutationWalk

    runs = Runs([0, 10, 30, 31], [3, 0, 4, 2], step=2)  # 0 2 4 | - | 30 32 34 36 | 31 33
    assert list(runs.values()) == [0, 2, 4, 30, 32, 34, 36, 31, 33] and len(runs) == 9
    assert list(runs.run_of(np.arange(9))) == [0, 0, 0, 2, 2, 2, 2, 3, 3]  # the empty run is skipped
    assert list(runs.select(2, 6).values()) == [4, 30, 32, 34] and list(runs[2:6].count) == [1, 0, 3, 0]
    # A walk too large for an array is a keyed permutation computed per position: each pass visits every item
    # once, in an order of its own, the same from any call.
    walk = PermutationWalk(1000, seed=3)
    walk.EXPLICIT_LIMIT = 10
    passes = [walk.indices(np.arange(1000) + 1000 * p) for p in range(3)]
    assert all(sorted(p) == list(range(1000)) for p in passes)
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[0], np.arange(1000))
    np.testing.assert_array_equal(walk.indices(np.arange(1500, 1600)), passes[1][500:600])
    assert not walk._cache  # no array of the items was made
