"""Writing sharded datasets the way cluster runners run jobs: the same shard job twice at once (a retried or
speculative Beam bundle), a video that cannot be read (recorded, named, tried again), and outputs that are not
this package's files."""
import subprocess
import sys
import textwrap

import h5py
import numpy as np
from test_shards import PATCHES, noise_video, tool, written

from keras_vidrep.data import shards


def test_the_same_shard_job_twice_at_once_leaves_one_complete_shard_and_nothing_else(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for k in range(6):
        noise_video(folder / f"v{k}.avi", 40, k)
    written("vidrep-preprocess", f"--videos={folder}", "--output=alone.h5", *PATCHES, "--per_video=30",
            cwd=tmp_path)
    script = textwrap.dedent(f"""
        import sys, time
        from keras_vidrep.data import shard_jobs, video
        files = video.find_videos({str(folder)!r})
        settings = dict(kind="patches", size=16, seq_length=8, frame_skip=1, max_frames=0, keep_aspect=False,
                        resize=0, crops="random", per_video=30, seed=0)
        spec = shard_jobs.shard_specs("dataset", files, {str(tmp_path / "twice.h5")!r}, 1, settings,
                                      decode=dict(frame_skip=1), skip_bad=False)[0]
        cut = video.patch_sequences  # a slow disk: 0.2 s a video, so that the two attempts overlap
        video.patch_sequences = lambda *args, **kwargs: (time.sleep(0.2), cut(*args, **kwargs))[1]
        time.sleep(float(sys.argv[1]))
        print(shard_jobs.write_shard(spec))
    """)
    # Two attempts at the one shard, the second starting while the first writes.
    attempts = [subprocess.Popen([sys.executable, "-c", script, delay], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for delay in ("0", "0.5")]
    outputs = [a.communicate(timeout=300) for a in attempts]
    assert [a.returncode for a in attempts] == [0, 0], "\n".join(err[-2000:] for _, err in outputs)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("twice")) == ["twice-00000-of-00001.h5"]
    with h5py.File(tmp_path / "alone.h5", "r") as alone, h5py.File(tmp_path / "twice-00000-of-00001.h5") as twice:
        assert len(alone["patches"]) == 180
        np.testing.assert_array_equal(alone["patches"][...], twice["patches"][...])
    spec = dict(path=str(tmp_path / "twice-00000-of-00001.h5"))
    with h5py.File(spec["path"], "r") as f:
        assert shards.finished(spec["path"], f.attrs["shard_key"])


def test_an_unreadable_video_is_recorded_in_the_index_named_and_tried_again(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for k in range(4):
        noise_video(folder / f"v{k}.avi", 6, k)
    (folder / "v2.avi").write_text("not a video")  # in the second of two shards
    flags = [f"--videos={folder}", "--output=fs.h5", "--weights=none", "--every=2", "--shards=2"]
    out = written("vidrep-features", *flags, cwd=tmp_path)
    last = out.strip().splitlines()[-1]
    assert "holding 9 feature vectors of 3 of 4 videos" in last
    assert last.endswith(f"; 1 unreadable, recorded in the index and tried again by the next run: "
                         f"{folder / 'v2.avi'}")
    with h5py.File(tmp_path / "fs.h5", "r") as index:
        assert [v.decode() for v in index[shards.UNREADABLE][...]] == [str(folder / "v2.avi")]
    noise_video(folder / "v2.avi", 6, 2)  # the video mended: the next run reads it, and only its shard again
    out = written("vidrep-features", *flags, cwd=tmp_path)
    assert "(1 complete before this run) holding 12 feature vectors of 4 of 4 videos" in out
    assert "unreadable" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fs-00000-of-00002.h5", "fs-00001-of-00002.h5", "fs.h5",
                                                           "videos"]


def test_an_output_that_is_not_this_packages_file_is_left_as_it_is(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    noise_video(folder / "v0.avi", 12, 0)
    (tmp_path / "x.h5").write_text("my notes")
    # (vidrep-preprocess checks before it chooses between one file and shards)
    for command, extra in (("vidrep-preprocess", PATCHES), ("vidrep-features", ["--weights=none", "--shards=1"])):
        result = tool(command, f"--videos={folder}", "--output=x.h5", *extra, cwd=tmp_path)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            f"{command}: error: `output` 'x.h5' exists and is not a file of {command}; it is left as it is: remove "
            f"it, or choose another output file")
        assert (tmp_path / "x.h5").read_text() == "my notes"
    written("vidrep-preprocess", f"--videos={folder}", "--output=y.h5", *PATCHES, cwd=tmp_path)
    written("vidrep-preprocess", f"--videos={folder}", "--output=y.h5", *PATCHES, "--seed=3", cwd=tmp_path)
