"""Every benchmark of the speed tables of docs/speed.md, in one command, on this machine.

Usage:
  .venv/bin/python bench/suite.py                       # all (~25 minutes on 2 CPU cores)
  .venv/bin/python bench/suite.py --only=train --rows=paper,paper_bf16
Runs bench/train_speed.py for each row, then bench/pipeline_speed.py against what that row's training consumed,
then bench/rollout_speed.py; writes bench/results/{train_speed,pipeline_speed,rollout_speed}.json (rows not run
keep their earlier results) and prints those tables in markdown. The file-based rows read data made here
first: synthetic videos written with OpenCV, turned into a frames file (vidrep-preprocess) and a features file
(vidrep-features, random weights: the speed does not depend on the weights); the latent LSTM's row reads a VAE
trained for one step.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
PAPER = ["--flagfile=configs/bouncing_mnist.cfg", "--digits_path={mnist}", "--steps=5"]
QUICK = ["--flagfile=configs/quickstart.cfg", "--steps=100"]
# name: (what it is, train_speed.py flags); {mnist}, {frames}, {features} and {vae_dir} are filled in with the made
# data.
TRAIN_ROWS = {
    "quickstart": ("quickstart.cfg (1×256, batch 16)", QUICK),
    "quickstart_xla": ("quickstart.cfg --jit_compile", QUICK + ["--jit_compile"]),
    "quickstart_bf16": ("quickstart.cfg --precision=mixed_bfloat16", QUICK + ["--precision=mixed_bfloat16"]),
    "paper": ("bouncing_mnist.cfg (1×2048, both decoders conditional, batch 80)", PAPER),
    "paper_bf16": ("bouncing_mnist.cfg --precision=mixed_bfloat16", PAPER + ["--precision=mixed_bfloat16"]),
    "paper_xla": ("bouncing_mnist.cfg --jit_compile", PAPER + ["--jit_compile", "--torch=false"]),
    "classifier": ("classifier, bouncing_digits, 1×256", ["--task=classifier", "--data=bouncing_digits",
                                                          "--num_classes=10", "--units=256", "--steps=50"]),
    "vae_lstm": ("vae_lstm.cfg (VAE, 64×64 grey)", ["--flagfile=configs/vae_lstm.cfg", "--steps=30"]),
    "vae_lstm_predictor": ("vae_lstm_predictor.cfg (latent LSTM 1×1024)",
                           ["--flagfile=configs/vae_lstm_predictor.cfg", "--vae_dir={vae_dir}", "--steps=20"]),
    "mmd_vae": ("mmd_vae.cfg (64×64×3 frames file)", ["--flagfile=configs/mmd_vae.cfg", "--data_file={frames}",
                                                      "--steps=10"]),
    "video_features_ae": ("video_features_ae.cfg (features file)",
                          ["--flagfile=configs/video_features_ae.cfg", "--data_file={features}", "--steps=50"]),
}
PIPELINE_ROWS = ("quickstart", "paper", "classifier", "vae_lstm", "vae_lstm_predictor", "mmd_vae", "video_features_ae")


def run(command, output_json=None):
    """Runs a command of this checkout's environment; returns the JSON it wrote."""
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=os.path.dirname(HERE), stdout=subprocess.DEVNULL if output_json else None,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if output_json:
        with open(output_json, encoding="utf-8") as f:
            return json.load(f)
    return None


def tool(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def make_data(work, needs):
    """What `needs` names of: mnist.h5; synthetic videos -> frames.h5, features.h5; a one-step VAE run.
    {placeholder: path}."""
    videos = os.path.join(work, "videos")
    if needs & {"frames", "features"}:
        write_videos(videos)
    paths = {"mnist": os.path.join(work, "mnist.h5"), "frames": os.path.join(work, "frames.h5"),
             "features": os.path.join(work, "features.h5"), "vae_dir": os.path.join(work, "vae")}
    if "mnist" in needs:
        write_mnist_h5(paths["mnist"])
    if "frames" in needs:
        run([tool("vidrep-preprocess"), "--kind=frames", f"--videos={videos}", f"--output={paths['frames']}",
             "--size=64"])
    if "features" in needs:
        run([tool("vidrep-features"), f"--videos={videos}", f"--output={paths['features']}", "--every=5",
             "--weights=none"])
    if "vae_dir" in needs:
        run([tool("vidrep-train"), "--flagfile=configs/vae_lstm.cfg", f"--model_dir={paths['vae_dir']}",
             "--train_steps=1", "--export=false", "--val_frames=64"])
    return paths


def write_mnist_h5(path, train=50_000, test=10_000):
    """An mnist.h5 in the original's format and size (float32 (N, 784) datasets `train` and `test`), so that the
    paper's config runs unchanged: scikit-learn's bundled digits at 28x28, repeated to MNIST's row counts."""
    import h5py

    from keras_vidrep.data.digits import load_digits

    with h5py.File(path, "w") as f:
        for split, rows in (("train", train), ("test", test)):
            digits = load_digits("sklearn", split).reshape(-1, 784)
            f[split] = np.resize(digits, (rows, 784))


def write_videos(folder):
    """5 synthetic videos, 400 frames of 160x120: coloured discs moving on a textured background."""
    import cv2

    os.makedirs(folder)
    rng = np.random.default_rng(0)
    for v in range(5):
        writer = cv2.VideoWriter(os.path.join(folder, f"video{v}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25,
                                 (160, 120))
        background = rng.integers(0, 255, (120, 160, 3), np.uint8)
        centres, speeds = rng.uniform(20, 100, (3, 2)), rng.uniform(-3, 3, (3, 2))
        for t in range(400):
            frame = background.copy()
            for (x, y), color in zip(centres + t * speeds, ((0, 0, 255), (0, 255, 0), (255, 0, 0))):
                cv2.circle(frame, (int(x) % 160, int(y) % 120), 15, color, -1)
            writer.write(frame)
        writer.release()


# The rows recorded before results were kept per CPU: measured on 2026-11-23 on the reference machine, whose model
# name was not recorded.
EARLIER_CPU = "Intel Xeon (AVX-512, AVX512_BF16), 2 cores; model name not recorded"


def update(name, rows):
    """Adds `rows` to bench/results/`name` under this machine's CPU (rows of other CPUs are kept); returns the
    whole file's content: {"machines": {cpu: {"date", "machine", "rows"}}}."""
    from keras_vidrep.runtime import cpu

    path = os.path.join(RESULTS, name)
    data = {"machines": {}}
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if "rows" in data:  # one machine's results, from before they were kept per CPU
            data = {"machines": {EARLIER_CPU: data}}
    here = cpu.describe()
    old = data["machines"].get(here, {}).get("rows", {})
    data["machines"][here] = {"date": datetime.date.today().isoformat(), "machine": machine(),
                              "rows": {**old, **rows}}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    return data


def machine():
    cores = os.cpu_count()
    try:
        gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        gpus = ""
    return f"{cores} CPU cores" + (f", {gpus}" if gpus else ", no GPU")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="train,pipeline,rollout", help="which benchmarks, comma separated")
    parser.add_argument("--rows", default=",".join(TRAIN_ROWS), help="training rows, comma separated")
    args = parser.parse_args()
    only, rows = set(args.only.split(",")), [r for r in args.rows.split(",") if r]
    unknown = [r for r in rows if r not in TRAIN_ROWS]
    if unknown:
        parser.error(f"--rows: unknown {', '.join(unknown)} (known: {', '.join(TRAIN_ROWS)})")
    work = tempfile.mkdtemp(prefix="vidrep-bench-data-")
    needs = {p for r in rows for flag in TRAIN_ROWS[r][1] for p in ("mnist", "frames", "features", "vae_dir")
             if "{" + p + "}" in flag}
    data = make_data(work, needs) if needs else {}
    python = sys.executable
    if "train" in only:
        for r in rows:  # each row saved as soon as it is measured
            out = os.path.join(work, f"train_{r}.json")
            result = run([python, os.path.join(HERE, "train_speed.py"), *[f.format(**data) for f in TRAIN_ROWS[r][1]],
                          f"--output_json={out}"], out)
            trained = update("train_speed.json", {r: {"what": TRAIN_ROWS[r][0], **result}})
        print_train(trained)
    if "pipeline" in only:
        from keras_vidrep.runtime import cpu

        with open(os.path.join(RESULTS, "train_speed.json"), encoding="utf-8") as f:
            trained = json.load(f)["machines"][cpu.describe()]["rows"]
        for r in (r for r in PIPELINE_ROWS if r in rows):
            flags = [f for f in TRAIN_ROWS[r][1] if not f.startswith("--steps")]
            out = os.path.join(work, f"pipeline_{r}.json")
            result = run([python, os.path.join(HERE, "pipeline_speed.py"), *[f.format(**data) for f in flags],
                          f"--consumed={trained[r]['examples_per_second']}", f"--output_json={out}"], out)
            piped = update("pipeline_speed.json", {r: result})
        print_pipeline(piped)
    if "rollout" in only:
        out = os.path.join(RESULTS, "rollout_speed.json")
        run([python, os.path.join(HERE, "rollout_speed.py"), "--units=256", "--batch=8", "--repeats=20",
             f"--output_json={out}"])


def print_train(data):
    """The training table of docs/speed.md: one block of rows per CPU, newest first."""
    print("| CPU, date | run | steps/s | examples/s | first step (s) | peak memory (GB) | GFLOP/s | of the best "
          "library GEMM / of the float32 limit | × PyTorch f32 (× PyTorch bf16) |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name_cpu, machine_rows in sorted(data["machines"].items(), key=lambda kv: kv[1]["date"], reverse=True):
        for name, r in machine_rows["rows"].items():
            dtype = "bfloat16" if r.get("precision") == "mixed_bfloat16" else "float32"
            if "of_best_library_gemm" in r and dtype == "float32":
                share = f"{r['of_best_library_gemm']:.0%} / " + (f"{r['of_float32_limit']:.0%}"
                                                                  if "of_float32_limit" in r else "?")
            elif f"utilisation_of_{dtype}_peak" in r:  # older rows: against the tf.matmul peak in its precision
                share = f"{r[f'utilisation_of_{dtype}_peak']:.0%} of tf.matmul ({dtype})"
            else:
                share = ""
            torch = str(r.get("speedup_over_torch_float32", ""))
            if "speedup_over_torch_bfloat16" in r:
                torch += f" ({r['speedup_over_torch_bfloat16']})"
            print(f"| {name_cpu}, {r.get('date', machine_rows['date'])} | `{name}` {r.get('what', '')} | "
                  f"{r['steps_per_second']} | {r['examples_per_second']:,} | {r['seconds_to_first_step']} | "
                  f"{r['peak_resident_gb']} | {r.get('achieved_gflops', '')} | {share} | {torch} |")


def print_pipeline(data):
    print("| CPU | run | examples/s, one core | through tf.data | training consumes | ahead (one core) |\n"
          "| --- | --- | ---: | ---: | ---: | ---: |")
    for name_cpu, machine_rows in data["machines"].items():
        for name, r in machine_rows["rows"].items():
            print(f"| {name_cpu} | `{name}` | {r['examples_per_second_one_core']:,} | "
                  f"{r['examples_per_second_tf_data']:,} | {r.get('consumed_per_second', '')} | "
                  f"{r.get('ratio_one_core', '')}× |")


if __name__ == "__main__":
    main()
