"""Sharded preprocessing and feature extraction with 1 and 2 workers, the tf.data read rate from shards against what
training consumes, and the plan it gives for Kinetics-700 and for the paper's 300 hours.

Usage:
  .venv/bin/python bench/workers.py --output_json=bench/results/workers.json
  .venv/bin/python bench/workers.py --videos=VIDEOS/ --output_json=...      # a folder of real videos instead
Writes (by default) a corpus of UCF-101-like clips: 320x240, 25 fps, 6 s, MPEG-4 part 2 (the codec family of
UCF-101's XviD files), moving shapes over a drifting gradient with grain. Each tool runs as a user runs it
(`vidrep-preprocess` / `vidrep-features --shards --workers`, wall time from start to exit, Beam's start-up
included); 1 worker writes the shards in its own process, 2 run them on Apache Beam's local runner. The read rate
is the trainer's own tf.data stream (`pipeline.train_dataset`) over the sharded patches, one pipeline and each of
two pipelines (a worker's own shards); consumption is `bench/train_speed.py` on configs/ucf_patches.cfg.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import report
from absl import app, flags

flags.DEFINE_integer("clips", 48, "Clips generated for the corpus.")
flags.DEFINE_integer("copies", 12, "Each generated clip is in the corpus this many times (hard links: decoding costs "
                                  "the same, generating does not).")
flags.DEFINE_string("videos", "", "A folder of videos to use instead of the generated corpus.")
flags.DEFINE_integer("shards", 8, "Shards written.")
flags.DEFINE_integer("feature_videos", 48, "vidrep-features runs on this many of the corpus's videos (it is slow on "
                                           "a CPU).")
flags.DEFINE_integer("train_steps", 3, "Timed training steps of configs/ucf_patches.cfg (0: skip).")
flags.DEFINE_string("output_json", "", "Also write the results here.")
flags.DEFINE_string("plan_from", "", "Only (re)write the plan from the measurements in this JSON file.")
FLAGS = flags.FLAGS

BIN = os.path.dirname(sys.executable)
HERE = os.path.dirname(os.path.abspath(__file__))
FPS, SECONDS = 25, 6
EVERY = 40  # vidrep-features keeps every 40th frame (1.6 s at 25 fps)


def corpus(folder, clips, copies):
    """`clips` synthetic clips, each `copies` times, in 4 class folders; returns the folder."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:240, 0:320]
    for k in range(clips):
        os.makedirs(os.path.join(folder, f"class{k % 4}"), exist_ok=True)
        path = os.path.join(folder, f"class{k % 4}", f"clip{k:03d}.avi")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 240))
        centre, velocity = rng.uniform(40, 200, 2), rng.uniform(-4, 4, 2)
        colour = rng.integers(0, 256, 3).tolist()
        for t in range(FPS * SECONDS):
            frame = np.stack([(xx + 2 * t) % 256, (yy + t) % 256, (xx + yy) // 3 % 256], -1).astype(np.uint8)
            frame = cv2.add(frame, rng.integers(0, 24, frame.shape, dtype=np.uint8))
            x, y = (centre + velocity * t) % (320, 240)
            cv2.circle(frame, (int(x), int(y)), 30, colour, -1)
            cv2.rectangle(frame, (int(320 - x), int(y) // 2), (int(320 - x) + 40, int(y) // 2 + 30), colour[::-1], -1)
            writer.write(frame)
        writer.release()
        for c in range(1, copies):
            os.link(path, path.replace(".avi", f"_copy{c}.avi"))
    return folder


def video_list(folder):
    from keras_vidrep.data import video

    return video.find_videos(folder)


def frame_counts(folder):
    paths = video_list(folder)
    return len(paths), sum(int(cv2.VideoCapture(p).get(cv2.CAP_PROP_FRAME_COUNT)) for p in paths)


def timed(tool, cores, *args):
    """Runs `tool` on the first `cores` cores (taskset); returns (wall seconds, CPU seconds, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = ["taskset", "-c", ",".join(map(str, range(cores))), os.path.join(BIN, tool), *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{tool} failed: {result.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - start, cpu, result.stdout.strip()


def read_rate(index, batches=20):
    """Sequences/s of the trainer's tf.data stream over `index` with configs/ucf_patches.cfg's batch: one pipeline,
    and pipeline 0 of 2 (its own shards)."""
    import tensorflow as tf

    from keras_vidrep import tasks
    from keras_vidrep.config import Config
    from keras_vidrep.data import pipeline

    config = Config(data="patches", data_file=index, val_dataset="patches", val_path=index, frame_size=32,
                    seq_length=20, input_frames=10, future_frames=10, batch_size=100, val_sequences=10)
    rates = {}
    for name, context in (("one_pipeline", None), ("one_of_two_pipelines", tf.distribute.InputContext(2, 0, 2))):
        task = tasks.create(config)
        task.prepare_data()
        stream = iter(pipeline.train_dataset(task, 100, 0, context))
        next(stream)
        start = time.perf_counter()
        count = sum(len(next(stream)[0]) for _ in range(batches))
        rates[name] = round(count / (time.perf_counter() - start), 1)
    return rates


# What the plan scales to. Kinetics-700: about 650,000 clips of up to 10 s (25-30 fps; 340x256 after the usual
# resize, close to the corpus's 320x240). The paper: 300 hours of video at 25 fps.
TARGETS = {"kinetics700": {"videos": 650_000, "frames": 650_000 * 10 * 25},
           "paper_300h": {"videos": 300 * 3600 // 6, "frames": 300 * 3600 * 25}}  # as clips of 6 s
CORES_PER_MACHINE = 32


def plan(result):
    """Machines, hours and storage for each target, from the measured per-core rates (1 worker on 1 core) and
    bytes written per video or frame."""
    rows, out = result["rows"], {"cores_per_machine": CORES_PER_MACHINE, "assumes": "the per-core rate of 1 "
                                 "worker on 1 core of this CPU, scaled linearly (the 2-worker runs scaled as "
                                 "measured); decoding cost grows with pixels (HD sources: several times more); "
                                 "storage as written here (uncompressed HDF5)"}
    for target, size in TARGETS.items():
        jobs = {}
        for name in ("patches", "frames", "features"):
            row = rows[f"{name}_1w_1c"]
            # frames the job handles: every decoded frame, or the kept frames (--every) through the network
            handled = size["frames"] // (EVERY if name == "features" else 1)
            core_hours = handled / row["frames_per_second"] / 3600
            per_video, per_frame = row["bytes"] / row["videos"], row["bytes"] / row["frames"]
            jobs[name] = {"frames_per_second_per_core": row["frames_per_second"], "core_hours": round(core_hours),
                          "hours_on": {f"{m}_machines": round(core_hours / (m * CORES_PER_MACHINE), 1)
                                       for m in (1, 8, 32)},
                          # patches: --per_video sequences a video, whatever its length; the others: per frame
                          "storage_gb": round((per_video * size["videos"] if name == "patches" else
                                               per_frame * handled) / 1e9, 1)}
        out[target] = {**size, "jobs": jobs}
    return out


def main(argv):
    del argv
    if FLAGS.plan_from:
        with open(FLAGS.plan_from, encoding="utf-8") as f:
            result = json.load(f)
        result["plan"] = plan(result)
        return report.emit(result, FLAGS.output_json or FLAGS.plan_from)
    work = tempfile.mkdtemp(prefix="vidrep-workers-")
    folder = FLAGS.videos or corpus(os.path.join(work, "videos"), FLAGS.clips, FLAGS.copies)
    videos, frames = frame_counts(folder)
    subset = os.path.join(work, "feature_videos")  # the first --feature_videos of the corpus, as hard links
    os.makedirs(subset)
    for k, path in enumerate(video_list(folder)[:FLAGS.feature_videos]):
        os.link(path, os.path.join(subset, f"{k:04d}_{os.path.basename(path)}"))
    rows, result = {}, {"date": time.strftime("%Y-%m-%d"), "cpu": report_cpu(), "videos": videos, "frames": frames,
                        "corpus": FLAGS.videos or f"{FLAGS.clips} generated clips x {FLAGS.copies}, 320x240, {FPS} "
                                                  f"fps, {SECONDS} s, mp4v", "shards": FLAGS.shards}
    jobs = {"patches": ("vidrep-preprocess", folder, ["--kind=patches", "--size=32", "--seq_length=20",
                                                      "--per_video=10"], frames),
            "frames": ("vidrep-preprocess", folder, ["--kind=frames", "--size=64", "--keep_aspect"], frames),
            "features": ("vidrep-features", subset, ["--weights=none", f"--every={EVERY}"], None)}
    # 1 worker on 1 core, 1 worker on 2 cores (as a user runs it here), 2 workers on 2 cores.
    for name, (tool, where, args, decoded) in jobs.items():
        count = len(video_list(where))
        for workers, cores in ((1, 1), (1, 2), (2, 2)):
            output = os.path.join(work, f"{name}_w{workers}c{cores}.h5")
            seconds, cpu, out = timed(tool, cores, f"--videos={where}", f"--output={output}",
                                      f"--shards={FLAGS.shards}", f"--workers={workers}", *args)
            if decoded is None:  # frames through the network
                decoded = int(out.split("holding ")[1].split()[0])
            rows[f"{name}_{workers}w_{cores}c"] = {
                "tool": tool, "workers": workers, "cores": cores, "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu, 1), "videos": count, "videos_per_second": round(count / seconds, 2),
                "frames_per_second": round(decoded / seconds, 1), "frames": decoded,
                "bytes": sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work)
                             if f.startswith(f"{name}_w{workers}c{cores}"))}
            print(f"{name:9s} {workers} worker(s) on {cores} core(s): {seconds:6.1f} s ({cpu:6.1f} CPU s)  "
                  f"{count / seconds:6.2f} videos/s  {decoded / seconds:7.1f} frames/s", flush=True)
        rows[f"{name}_scaling_1w1c_to_2w2c"] = round(rows[f"{name}_1w_1c"]["seconds"] /
                                                     rows[f"{name}_2w_2c"]["seconds"], 2)
    result["rows"] = rows
    index = os.path.join(work, "patches_w2c2.h5")
    result["read_sequences_per_second"] = read_rate(index)
    if FLAGS.train_steps:
        speed = os.path.join(work, "speed.json")
        subprocess.run([sys.executable, os.path.join(HERE, "train_speed.py"), "--flagfile=configs/ucf_patches.cfg",
                        f"--data_file={index}", f"--val_path={index}", "--val_sequences=10",
                        f"--steps={FLAGS.train_steps}", "--peaks=false", "--torch=false", f"--output_json={speed}"],
                       check=True, capture_output=True, cwd=os.path.dirname(HERE))
        with open(speed, encoding="utf-8") as f:
            result["ucf_patches_training_sequences_per_second"] = json.load(f)["examples_per_second"]
    result["plan"] = plan(result)
    report.emit(result, FLAGS.output_json)


def report_cpu():
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "unknown")
    return f"{model}, {os.cpu_count()} cores"


if __name__ == "__main__":
    app.run(main)
