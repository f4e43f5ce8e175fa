"""Sharded datasets: the same rows whatever the number of workers (in this process or on Apache Beam), resumed
shard by shard, read as the whole by every reader, and split by file between two MultiWorkerMirroredStrategy
workers so that each reads its own shards, every sequence once an epoch."""
import os
import subprocess
import sys

import cv2
import h5py
import numpy as np
import pytest
from conftest import run_workers

from keras_vidrep import tasks
from keras_vidrep.config import Config
from keras_vidrep.data import shards
from keras_vidrep.data.fc6 import ClipStream, FeatureClips
from keras_vidrep.data.frame_file import FeatureFile, FrameFile, WindowStream
from keras_vidrep.data.frame_sets import SequenceSource
from keras_vidrep.data.patches import SequenceFile

BIN = os.path.dirname(sys.executable)
PATCHES = ["--size=16", "--seq_length=8", "--per_video=4"]


def noise_video(path, frames, seed):
    """An MJPG .avi of random pixels: every patch cut from it differs from every other."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 40))
    rng = np.random.default_rng(seed)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    writer.release()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for k in range(8):  # two classes (folders) of four videos
        os.makedirs(folder / f"class{k // 4}", exist_ok=True)
        noise_video(folder / f"class{k // 4}" / f"v{k}.avi", 12 + k, k)
    return folder


def tool(name, *args, cwd):
    result = subprocess.run([os.path.join(BIN, name), *args], capture_output=True, text=True, cwd=cwd, timeout=400)
    return result


def written(name, *args, cwd):
    result = tool(name, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def contents(path):
    f = shards.open_hdf5(str(path))
    return {key: np.asarray(f[key][...]) for key in f}


def test_shards_hold_the_same_rows_whatever_the_workers_and_resume_shard_by_shard(videos, tmp_path):
    written("vidrep-preprocess", f"--videos={videos}", "--output=one.h5", *PATCHES, cwd=tmp_path)
    written("vidrep-preprocess", f"--videos={videos}", "--output=w1.h5", *PATCHES, "--shards=4", cwd=tmp_path)
    beam = tool("vidrep-preprocess", f"--videos={videos}", "--output=w3.h5", *PATCHES, "--shards=4", "--workers=3",
                cwd=tmp_path)  # Apache Beam, local runner, 3 processes
    assert beam.returncode == 0, beam.stderr[-3000:]
    assert "an index of 4 shards (0 complete before this run) holding 32 patches from 8 of 8 videos; " \
           "Beam's log: w3.h5.beam.log" in beam.stdout
    # The terminal shows the progress bar only; Beam's messages, its worker processes' too, are in the log.
    assert "4/4" in beam.stderr and "apache_beam" not in beam.stderr and "harness" not in beam.stderr, beam.stderr
    log = (tmp_path / "w3.h5.beam.log").read_text()
    assert "apache_beam" in log and log.count("INFO:__main__:Python sdk harness starting") == 3  # 3 processes
    one, w1, w3 = contents(tmp_path / "one.h5"), contents(tmp_path / "w1.h5"), contents(tmp_path / "w3.h5")
    assert set(one) == set(w1) == set(w3) >= {"patches", "video_index", "start_frame", "videos", "counts"}
    for key in one:
        np.testing.assert_array_equal(one[key], w1[key], err_msg=key)
        np.testing.assert_array_equal(one[key], w3[key], err_msg=key)
    assert len(np.unique(one["patches"].reshape(32, -1), axis=0)) == 32
    index = shards.open_hdf5(str(tmp_path / "w3.h5"))
    assert isinstance(index, shards.ShardedFile) and index.num_shards == 4
    np.testing.assert_array_equal(index.index["video_shard"][...], [0, 0, 1, 1, 2, 2, 3, 3])
    for k in range(4):  # each shard is a dataset of its own
        part = SequenceFile(str(tmp_path / f"w3-{k:05d}-of-00004.h5"), 8, (16, 16, 3))
        np.testing.assert_array_equal(part.first(), SequenceFile(str(tmp_path / "one.h5"), 8, (16, 16, 3)).read(
            np.arange(8 * k, 8 * k + 8)))

    # Killed after two shards: only the others are written again.
    kept = {k: os.stat(tmp_path / f"w3-{k:05d}-of-00004.h5").st_mtime_ns for k in (0, 1)}
    for gone in ("w3-00002-of-00004.h5", "w3-00003-of-00004.h5", "w3.h5"):
        os.remove(tmp_path / gone)
    out = written("vidrep-preprocess", f"--videos={videos}", "--output=w3.h5", *PATCHES, "--shards=4", cwd=tmp_path)
    assert "(2 complete before this run)" in out
    assert kept == {k: os.stat(tmp_path / f"w3-{k:05d}-of-00004.h5").st_mtime_ns for k in (0, 1)}
    for key, value in contents(tmp_path / "w3.h5").items():
        np.testing.assert_array_equal(one[key], value, err_msg=key)

    # Other settings into the same shards: refused in one line, nothing rewritten.
    before = (tmp_path / "w3-00000-of-00004.h5").read_bytes()
    result = tool("vidrep-preprocess", f"--videos={videos}", "--output=w3.h5", *PATCHES, "--shards=4", "--seed=1",
                  cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(
        "vidrep-preprocess: error: shard 'w3-00000-of-00004.h5' exists but holds other videos or settings")
    assert (tmp_path / "w3-00000-of-00004.h5").read_bytes() == before


def test_a_frames_index_reads_as_the_whole_and_its_windows_split_by_shard(videos, tmp_path):
    frames = ["--kind=frames", "--size=16"]
    written("vidrep-preprocess", f"--videos={videos}", "--output=frames.h5", *frames, cwd=tmp_path)
    written("vidrep-preprocess", f"--videos={videos}", "--output=sharded.h5", *frames, "--shards=3", cwd=tmp_path)
    one, sharded = FrameFile(str(tmp_path / "frames.h5")), FrameFile(str(tmp_path / "sharded.h5"))
    assert one.videos == sharded.videos
    np.testing.assert_array_equal(one.video_first, sharded.video_first)
    np.testing.assert_array_equal(one.read(np.arange(len(one))), sharded.read(np.arange(len(sharded))))
    np.testing.assert_array_equal(one.frame_numbers(np.arange(len(one))), sharded.frame_numbers(np.arange(len(one))))
    for a, b in zip(one.split(0.25), sharded.split(0.25)):
        np.testing.assert_array_equal(a.values(), b.values())

    # The training windows split between workers in equal contiguous shares, the held-out videos (taken out of
    # the last shard) changing nothing.
    windows = [WindowStream(f, 4, 0, 0.25, "videos") for f in (sharded, sharded, one)]
    assert windows[0].own_shards(0, 2) and windows[1].own_shards(1, 2) and not windows[2].own_shards(0, 2)
    assert_balanced([w.train_starts.values() for w in windows[:2]], windows[2].train_starts.values())
    assert windows[1].own_shards(1, 2)  # again (a new input pipeline of the same run): the same examples
    assert_balanced([w.train_starts.values() for w in windows[:2]], windows[2].train_starts.values())
    # Worker 1's half of global batch 0 (of 6) is the first 3 positions of its own walk.
    np.testing.assert_array_equal(windows[1].batch(0, 6, 3, 3), windows[1].sequences(np.arange(3)))

    # The tasks reading frames files keep to a worker's shards the same way: the VAE's frames, the latent
    # predictor's sequences (its source, built from the same settings), through Task.own_shards.
    def vae(data_file):
        task = tasks.create(Config("vae", data="frames", data_file=str(tmp_path / data_file), frame_size=16,
                                   channels=3, latent_dim=4, filters=(4,), val_frames=4, val_fraction=0.25,
                                   val_split="videos", batch_size=4, model_dir=str(tmp_path / "run")).validate())
        task.prepare_data()
        return task

    tasks_of = [vae("sharded.h5"), vae("sharded.h5"), vae("frames.h5")]
    assert tasks_of[0].own_shards(0, 2) and tasks_of[1].own_shards(1, 2) and not tasks_of[2].own_shards(0, 2)
    assert_balanced([t.source.frames.train_starts.values() for t in tasks_of[:2]],
                    tasks_of[2].source.frames.train_starts.values())
    sources = [SequenceSource(t.settings, 0, 4) for t in tasks_of]
    assert sources[0].own_shards(0, 2) and sources[1].own_shards(1, 2) and not sources[2].own_shards(0, 2)
    assert_balanced([s.windows.train_starts.values() for s in sources[:2]], windows[2].train_starts.values())


def test_an_fc6_index_reads_as_its_shards_with_side_files_for_the_whole(videos, tmp_path):
    fc6 = ["--kind=features", "--backbone=resnet50", "--weights=random", "--max_frames=5"]
    out = written("vidrep-preprocess", f"--videos={videos}", "--output=fc6s.h5", *fc6, "--shards=2", cwd=tmp_path)
    assert "fc6s_num_frames.txt, fc6s_labels.txt" in out
    assert (tmp_path / "fc6s_num_frames.txt").read_text().split() == ["5"] * 8
    assert (tmp_path / "fc6s_labels.txt").read_text().split() == ["0"] * 4 + ["1"] * 4
    assert (tmp_path / "fc6s_classes.txt").read_text().split() == ["class0", "class1"]
    clips = FeatureClips(str(tmp_path / "fc6s.h5"), str(tmp_path / "fc6s_num_frames.txt"),
                         str(tmp_path / "fc6s_labels.txt"), clip_length=4)
    assert len(clips) == 16  # 2 clips of 4 in each video of 5 frames
    parts = [np.asarray(h5py.File(tmp_path / f"fc6s-0000{k}-of-00002.h5", "r")["hidden6"]) for k in (0, 1)]
    assert [len(p) for p in parts] == [20, 20]
    features, labels = clips.clips(np.arange(16))
    np.testing.assert_array_equal(features[[0, 8]], [parts[0][0:4], parts[1][0:4]])  # first clips of videos 0, 4
    np.testing.assert_array_equal(labels, [0] * 8 + [1] * 8)
    np.testing.assert_array_equal(clips.video_of(np.arange(16)), np.repeat(np.arange(8), 2))

    streams = [ClipStream(clips) for _ in range(3)]
    assert all(s.own_shards(k, 3) for k, s in enumerate(streams))
    assert_balanced([clips.starts[np.array(s.items)] for s in streams], clips.starts.values())


def test_vidrep_features_on_two_beam_workers_matches_one_file(videos, tmp_path):
    every = ["--weights=none", "--every=3", "--batch_size=8"]
    written("vidrep-features", f"--videos={videos}", "--output=features.h5", *every, cwd=tmp_path)
    out = written("vidrep-features", f"--videos={videos}", "--output=fs.h5", *every, "--shards=2", "--workers=2",
                  cwd=tmp_path)  # Apache Beam: the network is built in each worker
    assert "holding 44 feature vectors of 8 of 8 videos" in out
    one, sharded = FeatureFile(str(tmp_path / "features.h5")), FeatureFile(str(tmp_path / "fs.h5"))
    assert one.videos == sharded.videos
    np.testing.assert_array_equal(one.video_first, sharded.video_first)
    np.testing.assert_array_equal(one.frame_numbers(np.arange(44)), sharded.frame_numbers(np.arange(44)))
    np.testing.assert_allclose(one.read(np.arange(44)), sharded.read(np.arange(44)), rtol=1e-5, atol=1e-5)
    windows = [WindowStream(sharded, 2, 0, 0.25, "tail") for _ in range(2)]
    assert windows[0].own_shards(0, 2) and windows[1].own_shards(1, 2)
    assert_balanced([w.train_starts.values() for w in windows], WindowStream(one, 2, 0, 0.25, "tail")
                    .train_starts.values())


def assert_balanced(parts, whole):
    """`parts` (first rows of each worker's examples) are `whole` cut in contiguous pieces of equal size (±1)."""
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("count, workers", [(5, 2), (7, 3)])
def test_workers_read_equal_shares_of_unequal_shards_every_sequence_once_an_epoch(videos, tmp_path, count, workers):
    from keras_vidrep.training.local_cluster import tf_configs

    written("vidrep-preprocess", f"--videos={videos}", "--output=p.h5", *PATCHES, f"--shards={count}", cwd=tmp_path)
    with shards.open_hdf5(str(tmp_path / "p.h5")) as index:
        rows = index.index["shard_rows"][...]
    assert len(set(rows)) > 1, rows  # 8 videos in 5 or 7 shards: shards of 4 and 8 sequences
    # 32 sequences; each worker reads 2 of every global batch, as many steps as it takes to pass its share once.
    steps = -(-32 // workers // 2) + 1
    script = os.path.join(os.path.dirname(__file__), "two_worker_reads.py")
    command = [sys.executable, script, str(tmp_path / "p.h5"), str(steps), str(2 * workers)]
    reads = run_workers([command] * workers, [{"TF_CONFIG": c} for c in tf_configs(workers)], timeout=400)
    shares = [len(read["owned"]) for read in reads]
    assert max(shares) - min(shares) <= 1 and sum(shares) == 32, shares  # the same rate for every sequence
    epoch = []
    for read in reads:  # each worker's first pass over its share: each of its sequences once, none of another's
        first_pass = read["rows"][:len(read["owned"])]
        assert sorted(first_pass) == read["owned"]
        epoch += first_pass
    assert sorted(epoch) == list(range(32))  # over the cluster: every sequence once, as one worker reads them


def test_a_worker_error_on_beam_is_one_line_and_the_finished_shards_stay(videos, tmp_path):
    (tmp_path / "zz").mkdir()
    (tmp_path / "zz" / "broken.avi").write_text("not a video")  # sorted last: in the second shard
    result = tool("vidrep-preprocess", f"--videos={videos},zz", "--output=p.h5", *PATCHES, "--shards=2",
                  "--workers=2", cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == \
        "vidrep-preprocess: error: zz/broken.avi: OpenCV cannot decode this file as a video"
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.glob("p*.h5")) == ["p-00000-of-00002.h5"]  # done, kept for a re-run


def test_beam_options_name_the_runner_and_the_default_is_the_direct_runner_on_the_workers():
    from keras_vidrep.data.shard_jobs import beam_arguments

    default = beam_arguments(3, "")
    assert {"--runner=FnApiRunner", "--direct_num_workers=3", "--direct_running_mode=multi_processing"} <= set(default)
    flink = beam_arguments(3, "--runner=FlinkRunner --flink_master='flink:8081' --environment_type=LOOPBACK")
    assert flink == ["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=LOOPBACK"]
