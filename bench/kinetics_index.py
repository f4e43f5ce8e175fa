"""Memory of every sharded reader at Kinetics-700's size: ~650k videos, ~160 M frames, 1,024 shards.

Usage (through bench/scale.py, or alone):
  .venv/bin/python bench/scale.py --families=kinetics --dir=/var/tmp/vidrep-scale
  .venv/bin/python bench/kinetics_index.py --dir=/var/tmp/vidrep-kinetics [--videos=650000 --shards=1024]
  .venv/bin/python bench/kinetics_index.py ... --code=/path/to/another/checkout   # the same readers of other code

Writes sharded indexes of Kinetics-700's shape with tiny rows (a 1-value feature, a 1x1 grey frame, 1x1x3
patches), so that the files stay a few GB while every per-row and per-video structure has its real size: frame
counts drawn like 10-s clips at 25 fps (mean ~250, 30 to 750 frames), per-row `video_index` and `frame_number`
datasets as vidrep-features and vidrep-preprocess write them. Then, each in a fresh process, it opens each reader
the way training does — per-frame features cut in windows and standardised (video_features_ae.cfg), frames in
windows (the frame VAE and latent tasks), fc6 clips (the classifier), patch sequences (ucf_patches.cfg) — keeps
to worker 0 of 8's share as a multi-worker run does, reads 200 training batches of 80 and a validation set of
1,000, and records the process's anonymous memory (not file cache) before opening, after opening and its peak
while reading. Results: --output_json and a table on stdout.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GB = 1 << 30
READERS = ("features", "frames", "fc6", "patches")



def frame_counts(videos, seed=0):
    """Frames per video like Kinetics' 10-s clips at 25 fps: mean ~250, from 30 to 750."""
    counts = np.random.default_rng(seed).lognormal(np.log(240.0), 0.3, videos)
    return np.clip(np.rint(counts * 250.0 / counts.mean()), 30, 750).astype(np.int64)


def write_index(directory, kind, counts, shard_count, code=ROOT):
    """A sharded index of `kind` at directory/kind.h5 over videos of `counts` frames. Rows hold HDF5's fill value
    (never written: they cost no disk); the per-row index datasets are written, compressed. Returns its path."""
    import h5py

    sys.path.insert(0, code)
    from keras_vidrep.data import shards

    output = os.path.join(directory, f"{kind}.h5")
    paths = shards.shard_paths(output, shard_count)
    bounds = np.linspace(0, len(counts), shard_count + 1).round().astype(int)
    per_video = 10  # patches: sequences cut from each video
    for path, first, end in zip(paths, bounds[:-1], bounds[1:]):
        mine = counts[first:end]
        rows = int(mine.sum()) if kind != "patches" else per_video * len(mine)
        videos = np.repeat(np.arange(len(mine), dtype=np.int32), mine if kind != "patches" else per_video)
        with h5py.File(path, "w") as f:
            shape = {"features": (1,), "fc6": (1,), "frames": (1, 1), "patches": (20, 1, 1, 3)}[kind]
            name = {"features": "features", "fc6": "hidden6", "frames": "frames", "patches": "patches"}[kind]
            dtype = np.uint8 if kind in ("frames", "patches") else np.float32
            f.create_dataset(name, (rows, *shape), dtype, chunks=(min(rows, 4096), *shape))
            if kind != "fc6":
                f.create_dataset("video_index", data=videos, compression="gzip", compression_opts=1, shuffle=True)
            if kind in ("features", "frames"):
                numbers = np.arange(rows, dtype=np.int32) - np.repeat(np.cumsum(mine) - mine, mine).astype(np.int32)
                f.create_dataset("frame_number", data=numbers, compression="gzip", compression_opts=1, shuffle=True)
            f.create_dataset("videos", data=np.array([f"kinetics/{v:07d}.mp4" for v in range(first, end)],
                                                     dtype=h5py.string_dtype()))
            f.create_dataset("counts", data=mine if kind != "patches" else np.full(len(mine), per_video))
    shards.write_index(output, paths, {"fc6": "hidden6"}.get(kind, kind))
    if kind == "fc6":  # the original format's side files
        np.savetxt(os.path.join(directory, "fc6_num_frames.txt"), counts, fmt="%d")
        np.savetxt(os.path.join(directory, "fc6_labels.txt"), np.arange(len(counts)) % 700, fmt="%d")
    return output


READ = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])

def anon():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("RssAnon"))

from keras_vidrep.data.validation_set import ValidationSet
kind, path = sys.argv[1], sys.argv[2]
before, start = anon(), time.perf_counter()
if kind in ("features", "frames"):
    from keras_vidrep.data.frame_file import FeatureFile, FrameFile, WindowStream
    file = FeatureFile(path) if kind == "features" else FrameFile(path, channels=1)
    stream = WindowStream(file, 16, 0, 0.05, "videos", standardize=kind == "features")
    validation = stream.validation_set(1000)
elif kind == "fc6":
    import os
    from keras_vidrep.data.fc6 import ClipStream, FeatureClips
    folder = os.path.dirname(path)
    clips = FeatureClips(path, os.path.join(folder, "fc6_num_frames.txt"), os.path.join(folder, "fc6_labels.txt"))
    stream = ClipStream(clips)
    ids = np.linspace(0, len(clips) - 1, 1000).astype(np.int64)
    validation = ValidationSet(lambda k: clips.clips(ids[k]), 1000)
else:
    from keras_vidrep.data.patches import SequenceFile, SequenceStream
    file = SequenceFile(path, 20, (1, 1, 3))
    stream = SequenceStream(file)
    validation = ValidationSet(lambda k: file.read(np.linspace(0, len(file) - 1, 1000).astype(np.int64)[k]), 1000)
opened, open_s = anon(), time.perf_counter() - start
stream.own_shards(0, 8)  # worker 0 of a multi-worker run of 8
peak, start = anon(), time.perf_counter()
for step in range(200):
    stream.batch(step, 80 * 8, 0, 80)
    peak = max(peak, anon())
for batch in validation.batches(100):
    peak = max(peak, anon())
print(json.dumps({"before_gb": before / 2**30, "opened_gb": opened / 2**30, "peak_gb": peak / 2**30,
                  "open_s": open_s, "batches_s": time.perf_counter() - start}))
"""


def measure(kind, path, code):
    """One reader in a fresh process: its anonymous memory before, after opening and at its peak."""
    done = subprocess.run([sys.executable, "-c", READ, kind, path, code], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["killed"])[-1][:300]}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["index_gb"] = out["peak_gb"] - out["before_gb"]
    return {k: round(v, 3) for k, v in out.items()}


def run(directory, videos=650_000, shard_count=1024, readers=READERS, code=ROOT):
    """Writes each reader's index, measures it, deletes it; returns the results."""
    sys.path.insert(0, code)
    from keras_vidrep.runtime import cpu

    counts = frame_counts(videos)
    results = {"cpu": cpu.describe(), "date": time.strftime("%Y-%m-%d"), "videos": int(len(counts)),
               "frames": int(counts.sum()), "shards": shard_count, "code": code, "readers": {}}
    os.makedirs(directory, exist_ok=True)
    for kind in readers:
        work = os.path.join(directory, kind)
        os.makedirs(work, exist_ok=True)
        try:
            start = time.perf_counter()
            path = write_index(work, kind, counts, shard_count, code)
            disk = sum(os.path.getsize(os.path.join(work, p)) for p in os.listdir(work)) / GB
            print(f"{kind}: index of {shard_count} shards written in {time.perf_counter() - start:.0f} s "
                  f"({disk:.2f} GB)", flush=True)
            results["readers"][kind] = {**measure(kind, path, code), "disk_gb": round(disk, 2)}
            print(f"  {results['readers'][kind]}", flush=True)
        finally:
            subprocess.run(["rm", "-rf", work], check=False)
    return results


def table(results):
    print(f"\n{results['videos']:,} videos, {results['frames']:,} frames, {results['shards']} shards "
          f"({results['cpu']}, {results['date']})")
    print("| reader | after opening (GB) | peak while reading (GB) | index = peak - before (GB) | open (s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind, r in results["readers"].items():
        if "error" in r:
            print(f"| {kind} | failed: {r['error']} | | | |")
        else:
            print(f"| {kind} | {r['opened_gb']:.3f} | {r['peak_gb']:.3f} | {r['index_gb']:.3f} | {r['open_s']:.0f} |")


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    results = run(FLAGS.dir, FLAGS.videos, FLAGS.shards, FLAGS.readers, os.path.abspath(FLAGS.code))
    os.makedirs(os.path.dirname(FLAGS.output_json), exist_ok=True)
    with open(FLAGS.output_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    table(results)


if __name__ == "__main__":
    flags.DEFINE_string("dir", "/var/tmp/vidrep-kinetics", "Where the indexes and shards go (deleted at the end).")
    flags.DEFINE_integer("videos", 650_000, "Videos (Kinetics-700: ~650k clips).")
    flags.DEFINE_integer("shards", 1024, "Shards of each index.")
    flags.DEFINE_list("readers", list(READERS), "Which readers to measure.")
    flags.DEFINE_string("code", ROOT, "The checkout whose readers are measured (its keras_vidrep is imported).")
    flags.DEFINE_string("output_json", os.path.join(HERE, "results", "kinetics_index.json"), "Results.")
    app.run(main)
