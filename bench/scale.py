"""Memory and time of the shipped configs on files of UCF-101's shape, at fractions of its full size.

Usage:
  .venv/bin/python bench/scale.py --dir=/var/tmp/vidrep-scale            # all families, 1/8 .. full
  .venv/bin/python bench/scale.py --families=classifier --fractions=0.125,0.25

For each family it writes synthetic files with the shape of the real ones (content does not matter for memory and
speed): fc6 features of UCF-101 split 1 (9,537 training and 3,783 test videos, frame counts drawn like UCF-101's:
mean ~186, 29 to ~1,800), a frames file of all 13,320 videos at 64x64x3 (~2.5 M frames) and patch files of
20-frame 32x32x3 sequences. Files are written once at the largest fraction and cut (HDF5) or rewritten (npy) for
the smaller ones, then deleted. For every fraction it runs, as subprocesses, `vidrep-train` with the shipped config
(small models: the data paths are what is measured) through one full validation, then `vidrep-eval` or
`vidrep-embed`, and records each one's peak resident memory (all of it, and the anonymous part that is not file
cache), wall time and validation time; at the largest fraction it times the training input pipeline
(bench/pipeline_speed.py) after dropping the page cache where allowed. Results: --output_json, a plot of memory
against size (--plot) and a table on stdout.

Needs free disk for the largest files of one family at a time (checked first): ~41 GB for the full fc6 features,
~31 GB for the full frames file, ~10 GB for the patches.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
from absl import app, flags

from keras_vidrep.runtime import cpu

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
TRAIN_VIDEOS, TEST_VIDEOS = 9537, 3783  # UCF-101 split 1
FEATURE_DIM, FRAME, PATCH, PATCH_FRAMES = 4096, (64, 64, 3), (32, 32, 3), 20
GB = 1 << 30

flags.DEFINE_string("dir", "/var/tmp/vidrep-scale", "Where the synthetic files go (deleted at the end).")
flags.DEFINE_list("fractions", ["1", "0.5", "0.25", "0.125"], "Fractions of UCF-101's size.")
flags.DEFINE_list("families", ["classifier", "vae", "patches"], "Which shipped configs to run; `kinetics`: every "
                                                                "sharded reader's memory at Kinetics-700's size "
                                                                "(bench/kinetics_index.py).")
flags.DEFINE_list("embed_fractions", ["0.125", "0.25"], "vae: fractions at which vidrep-embed encodes every frame "
                                                       "(2.5 M frames take long on 2 cores).")
flags.DEFINE_list("eval_fractions", ["0.125", "0.25"], "classifier: fractions at which vidrep-eval computes the "
                                                      "stride-1 (every clip) video accuracy.")
flags.DEFINE_bool("pipeline", True, "Time the training input pipeline at the largest fraction.")
flags.DEFINE_string("from_json", "", "Only draw the plot and print the tables of results written before.")
flags.DEFINE_string("output_json", os.path.join(HERE, "results", "scale.json"), "Results.")
flags.DEFINE_string("plot", os.path.join(HERE, "results", "scale.png"), "Memory against size.")
FLAGS = flags.FLAGS

# The shipped configs, with small models: the data paths are measured, not the model's compute.
FAMILIES = {
    "classifier": ("configs/ucf_fc6_classifier.cfg", ["--units=16", "--batch_size=128"]),
    "vae": ("configs/mmd_vae.cfg", ["--filters=8,8,8", "--hidden=32", "--latent_dim=16"]),
    "patches": ("configs/ucf_patches.cfg", ["--units=16"]),
}


def frame_counts(videos, seed):
    """Frames per video drawn like UCF-101's (mean ~186, from 29 to ~1,800)."""
    rng = np.random.default_rng(seed)
    counts = np.clip(rng.lognormal(np.log(160.0), 0.55, videos), 29, 1800)
    return np.clip(np.rint(counts * 186.0 / counts.mean()), 29, 1800).astype(np.int64)


def fill(dataset, rows, dtype, seed):
    """Writes `rows` rows into an array or dataset from one repeated random block (fast: content is irrelevant)."""
    shape = dataset.shape[1:]
    block_rows = max(1, (128 << 20) // max(1, int(np.prod(shape)) * np.dtype(dtype).itemsize))
    rng = np.random.default_rng(seed)
    block = (rng.random((block_rows, *shape), np.float32) if dtype == np.float32
             else rng.integers(0, 256, (block_rows, *shape), dtype=np.uint8))
    for start in range(0, rows, block_rows):
        n = min(block_rows, rows - start)
        dataset[start:start + n] = block[:n]


def write_fc6(directory, name, videos, seed):
    import h5py

    counts = frame_counts(videos, seed)
    path = os.path.join(directory, f"{name}.h5")
    with h5py.File(path, "w") as f:
        data = f.create_dataset("hidden6", (int(counts.sum()), FEATURE_DIM), np.float32,
                                maxshape=(None, FEATURE_DIM), chunks=(16, FEATURE_DIM))
        fill(data, len(data), np.float32, seed)
    return path, counts


def cut_fc6(path, counts, videos, labels_seed):
    """Keeps the first `videos` videos of a written fc6 file; writes its num_frames and labels files."""
    import h5py

    with h5py.File(path, "a") as f:
        f["hidden6"].resize(int(counts[:videos].sum()), axis=0)
    stem = os.path.splitext(path)[0]
    np.savetxt(f"{stem}_num_frames.txt", counts[:videos], fmt="%d")
    labels = np.random.default_rng(labels_seed).integers(0, 101, videos)
    np.savetxt(f"{stem}_labels.txt", labels, fmt="%d")
    return [f"--{'val_' if 'test' in path else ''}{k}={v}" for k, v in
            (("data_file", path), ("num_frames_file", f"{stem}_num_frames.txt"),
             ("labels_file", f"{stem}_labels.txt"))]


def write_frames(directory, videos, seed):
    import h5py

    counts = frame_counts(videos, seed)
    path = os.path.join(directory, "frames.h5")
    with h5py.File(path, "w") as f:
        total = int(counts.sum())
        data = f.create_dataset("frames", (total, *FRAME), np.uint8, maxshape=(None, *FRAME), chunks=(64, *FRAME))
        fill(data, total, np.uint8, seed)
        f.create_dataset("video_index", data=np.repeat(np.arange(videos), counts).astype(np.int32), maxshape=(None,))
        f.create_dataset("frame_number", data=np.concatenate([np.arange(c) for c in counts]).astype(np.int32),
                         maxshape=(None,))
        f.create_dataset("videos", data=np.array([f"v_{i:05d}.avi" for i in range(videos)], dtype=object),
                         dtype=h5py.string_dtype())
    return path, counts


def cut_frames(path, counts, videos):
    import h5py

    rows = int(counts[:videos].sum())
    with h5py.File(path, "a") as f:
        for name in ("frames", "video_index", "frame_number"):
            f[name].resize(rows, axis=0)
    return [f"--data_file={path}"]


def write_patches(directory, fraction, seed):
    """Train and validation patch files (original layout: rows of 20 channel-first frames, uint8)."""
    row = PATCH_FRAMES * int(np.prod(PATCH))
    paths = []
    for name, videos in (("train_patches", TRAIN_VIDEOS), ("valid_patches", TEST_VIDEOS)):
        sequences = int(round(fraction * frame_counts(videos, seed).sum() / PATCH_FRAMES))
        path = os.path.join(directory, f"{name}.npy")
        array = np.lib.format.open_memmap(path, "w+", np.uint8, (sequences, row))
        fill(array, sequences, np.uint8, seed)
        array.flush()
        del array
        paths.append(path)
    return [f"--data_file={paths[0]}", f"--val_path={paths[1]}"], paths


class PeakMemory:
    """Samples a process's resident memory (/proc/PID/status) until it ends: peak VmRSS and RssAnon in bytes."""

    def __init__(self, pid):
        self.pid, self.rss, self.anon = pid, 0, 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            try:
                with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
                    fields = dict(line.split(":", 1) for line in f)
            except (OSError, ValueError):
                return
            if "VmRSS" not in fields:
                return
            self.rss = max(self.rss, int(fields["VmRSS"].split()[0]) * 1024)
            self.anon = max(self.anon, int(fields.get("RssAnon", "0 kB").split()[0]) * 1024)
            time.sleep(0.05)

    def join(self):
        self._thread.join()


def run(command, cwd):
    """Runs a command; returns wall seconds, peak memory, the validation time it logged, and its output."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    memory = PeakMemory(process.pid)
    output = process.communicate()[0]
    memory.join()
    wall = time.perf_counter() - start
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    logged = re.findall(r"validation: (\d+) examples in ([\d.]+) s", output)
    return {"wall_s": round(wall, 1), "peak_rss_gb": round(memory.rss / GB, 3),
            "peak_anon_gb": round(memory.anon / GB, 3),
            "validation_examples": int(logged[-1][0]) if logged else None,
            "validation_s": float(logged[-1][1]) if logged else None}, output


def drop_page_cache():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def measure(family, fraction, data_flags, work, files):
    config, small = FAMILIES[family]
    run_dir = os.path.join(work, f"run_{family}_{fraction:g}")
    train = [os.path.join(BIN, "vidrep-train"), f"--flagfile={config}", f"--model_dir={run_dir}", "--train_steps=2",
             "--eval_every=2", "--summary_every=1", "--checkpoint_every=2", "--image_every=2", "--export=false",
             *small, *data_flags]
    out = {"family": family, "fraction": fraction, "files_gb": round(sum(map(data_bytes, files)) / GB, 2)}
    out["train"], log = run(train, ROOT)
    print(f"  vidrep-train: {out['train']}", flush=True)
    chosen = [f"{float(f):g}" for f in (FLAGS.eval_fractions if family == "classifier" else FLAGS.embed_fractions)]
    if family == "classifier" and f"{fraction:g}" in chosen:
        command = [os.path.join(BIN, "vidrep-eval"), f"--model_dir={run_dir}", "--val_clip_stride=1",
                   "--batch_size=128", f"--output_json={run_dir}/eval.json"]
    elif family == "patches":
        command = [os.path.join(BIN, "vidrep-eval"), f"--model_dir={run_dir}", "--dataset=patches",
                   f"--data_path={files[1]}", "--num_sequences=1000", f"--output_json={run_dir}/eval.json"]
    elif family == "vae" and f"{fraction:g}" in chosen:
        command = [os.path.join(BIN, "vidrep-embed"), f"--model_dir={run_dir}", f"--data_file={files[0]}",
                   f"--output={os.path.join(work, 'codes.h5')}"]
    else:
        command = None
    if command:
        tool = os.path.basename(command[0])
        out[tool], _ = run(command, ROOT)
        if tool == "vidrep-embed":
            out[tool]["frames"] = frames_in(files[0])
            os.remove(os.path.join(work, "codes.h5"))
        print(f"  {tool}: {out[tool]}", flush=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    return out


def data_bytes(path):
    """Bytes of the data a file holds now (an HDF5 file cut to fewer rows keeps its size on disk)."""
    if path.endswith(".npy"):
        return os.path.getsize(path)
    import h5py

    with h5py.File(path, "r") as f:
        key = "hidden6" if "hidden6" in f else "frames"
        return f[key].size * f[key].dtype.itemsize


def frames_in(path):
    import h5py

    with h5py.File(path, "r") as f:
        return int(len(f["frames"]))


def pipeline_rate(family, data_flags):
    config, small = FAMILIES[family]
    cached = not drop_page_cache()
    command = [sys.executable, os.path.join(HERE, "pipeline_speed.py"), f"--flagfile={config}", "--batches=30",
               *small, *data_flags]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["page_cache_dropped"] = not cached
    return result


def need_bytes(family, fraction):
    frames = frame_counts(TRAIN_VIDEOS, 0).sum() + frame_counts(TEST_VIDEOS, 1).sum()
    per_frame = {"classifier": FEATURE_DIM * 4, "vae": int(np.prod(FRAME)), "patches": int(np.prod(PATCH))}
    return int(frames * per_frame[family] * fraction * 1.02)


def main(argv):
    del argv
    if FLAGS.from_json:
        with open(FLAGS.from_json, encoding="utf-8") as f:
            results = json.load(f)
        plot(results)
        return table(results)
    fractions = sorted((float(f) for f in FLAGS.fractions), reverse=True)
    os.makedirs(FLAGS.dir, exist_ok=True)
    results = {"cpu": cpu.describe(), "date": time.strftime("%Y-%m-%d"), "runs": [], "pipeline": {}}
    for family in FLAGS.families:
        if family == "kinetics":  # 650k videos, 162 M frames, 1,024 shards of tiny rows: a file of its own
            import kinetics_index

            kinetics = kinetics_index.run(os.path.join(FLAGS.dir, "kinetics"))
            with open(os.path.join(HERE, "results", "kinetics_index.json"), "w", encoding="utf-8") as f:
                json.dump(kinetics, f, indent=2)
            kinetics_index.table(kinetics)
            continue
        need = need_bytes(family, fractions[0])
        free = shutil.disk_usage(FLAGS.dir).free
        if free < need + 2 * GB:
            raise SystemExit(f"scale.py: {family} needs {need / GB:.1f} GB in {FLAGS.dir} (+2 GB spare), "
                             f"{free / GB:.1f} GB free: pass --dir on a larger disk or smaller --fractions")
        work = os.path.join(FLAGS.dir, family)
        os.makedirs(work, exist_ok=True)
        try:
            print(f"{family}: writing {need / GB:.1f} GB of synthetic files in {work}", flush=True)
            start = time.perf_counter()
            if family == "classifier":
                largest = {name: write_fc6(work, name, int(round(videos * fractions[0])), seed)
                           for name, videos, seed in (("ucf101_train_fc6", TRAIN_VIDEOS, 0),
                                                      ("ucf101_test_fc6", TEST_VIDEOS, 1))}
            elif family == "vae":
                largest = write_frames(work, int(round((TRAIN_VIDEOS + TEST_VIDEOS) * fractions[0])), 0)
            print(f"  written in {time.perf_counter() - start:.0f} s", flush=True)
            for fraction in fractions:
                if family == "classifier":
                    data_flags, files = [], []
                    for name, full in (("ucf101_train_fc6", TRAIN_VIDEOS), ("ucf101_test_fc6", TEST_VIDEOS)):
                        path, counts = largest[name]
                        data_flags += cut_fc6(path, counts, int(round(full * fraction)), len(counts))
                        files.append(path)
                elif family == "vae":
                    path, counts = largest
                    data_flags, files = cut_frames(path, counts, int(round((TRAIN_VIDEOS + TEST_VIDEOS) * fraction))), \
                        [path]
                else:
                    data_flags, files = write_patches(work, fraction, 0)
                print(f"{family} at {fraction:g} of UCF-101 ({sum(map(data_bytes, files)) / GB:.1f} GB):", flush=True)
                if FLAGS.pipeline and fraction == fractions[0]:
                    results["pipeline"][family] = pipeline_rate(family, data_flags)
                    print(f"  pipeline: {results['pipeline'][family]}", flush=True)
                results["runs"].append(measure(family, fraction, data_flags, work, files))
                write(results)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    write(results)
    plot(results)
    table(results)


def write(results):
    os.makedirs(os.path.dirname(FLAGS.output_json), exist_ok=True)
    with open(FLAGS.output_json, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)


def plot(results):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for family in FLAGS.families:
        runs = [r for r in results["runs"] if r["family"] == family]
        if not runs:
            continue
        sizes = [r["files_gb"] for r in runs]
        axes[0].plot(sizes, [r["train"]["peak_rss_gb"] for r in runs], marker="o",
                     label=f"{family}: all (with mapped file pages)")
        axes[0].plot(sizes, [r["train"]["peak_anon_gb"] for r in runs], marker="s", linestyle="--",
                     label=f"{family}: anonymous")
        if runs[0]["train"]["validation_s"] is not None:
            axes[1].plot(sizes, [r["train"]["validation_s"] for r in runs], marker="o", label=family)
    axes[0].set_xlabel("data files (GB)")
    axes[0].set_ylabel("peak resident memory of vidrep-train (GB)")
    axes[0].set_ylim(bottom=0)
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("data files (GB)")
    axes[1].set_ylabel("one full validation (s)")
    axes[1].set_ylim(bottom=0)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"memory and validation time against data size ({results['cpu']}, {results['date']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(FLAGS.plot, dpi=100)
    plt.close(fig)


def table(results):
    """The results as a Markdown table (one row per family and size) and the pipeline's rates."""
    print(f"{results['cpu']}, {results['date']}\n")
    print("| family | size | data files | vidrep-train peak (anonymous) | validation | tool | tool peak | tool time |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for r in results["runs"]:
        t = r["train"]
        tool = next((k for k in ("vidrep-eval", "vidrep-embed") if k in r), None)
        done = f"{t['validation_examples']:,} in {t['validation_s']:.1f} s" if t["validation_s"] is not None else "-"
        extra = (f"| {tool} | {r[tool]['peak_rss_gb']:.2f} GB ({r[tool]['peak_anon_gb']:.2f}) | "
                 f"{r[tool]['wall_s']:.0f} s |") if tool else "| - | - | - |"
        print(f"| {r['family']} | {r['fraction']:g} | {r['files_gb']:.1f} GB | {t['peak_rss_gb']:.2f} GB "
              f"({t['peak_anon_gb']:.2f}) | {done} {extra}")
    for family, p in results.get("pipeline", {}).items():
        print(f"\npipeline {family}: {p['examples_per_second_one_core']:,.0f} examples/s on one core, "
              f"{p['examples_per_second_tf_data']:,.0f} through tf.data (batch {p['batch_size']}; page cache dropped: "
              f"{p['page_cache_dropped']})")


if __name__ == "__main__":
    app.run(main)
