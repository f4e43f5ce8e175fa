"""configs/own_videos.cfg on footage made here (this machine has no real videos and no network): from a folder of
video files to a trained run, its scores on held-out videos and the continuations of new videos — the path
docs/own_videos.md describes, timed.

The footage: `--videos` training and `--val_videos` held-out 320x240 videos of 8 s at 25 frames/s, each 2 to 4
discs and boxes of random colours and sizes moving at constant speed and bouncing off the edges over a coloured
gradient (seeded; training and held-out videos are drawn from different seeds); or, with `--footage=FOLDER`, the
videos of a folder, the last `--val_videos` of them (in sorted order) held out — e.g. the five sample videos of
Debian's opencv-doc (docs/vae.md says how to get them; hold out one with --val_videos=1).

  .venv/bin/python bench/own_videos.py [--minutes=15] [--footage=videos/ --val_videos=1]

Steps (each a package command): vidrep-preprocess of both folders (the config header's flags), vidrep-train
--flagfile=configs/own_videos.cfg --train_minutes=MINUTES, vidrep-eval on the held-out patches (free-running, per
horizon, against the copy-last-frame and mean-frame baselines), vidrep-encode of the held-out videos with
--predict_frames=8 (GIFs and MP4s). Writes bench/results/own_videos.json (own_videos_real.json with --footage)
and, beside it, own_videos_continuation.gif (own_videos_real_continuation.gif): one held-out video's continuation.
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
PATCHES = ["--kind=patches", "--size=32", "--resize=64", "--seq_length=16", "--frame_skip=2"]


def write_footage(folder, count, seed, frames=200, size=(320, 240)):
    """`count` videos of moving, bouncing shapes over a gradient (see the module's docstring)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    width, height = size
    for v in range(count):
        ground = np.linspace(rng.integers(0, 120, 3), rng.integers(120, 256, 3), width).astype(np.uint8)
        ground = np.broadcast_to(ground[None], (height, width, 3)).copy()
        shapes = [dict(kind=rng.integers(2), r=int(rng.integers(12, 36)),
                       colour=tuple(map(int, rng.integers(0, 256, 3))),
                       x=float(rng.uniform(40, width - 40)), y=float(rng.uniform(40, height - 40)),
                       dx=float(rng.uniform(-4, 4)), dy=float(rng.uniform(-4, 4))) for _ in range(rng.integers(2, 5))]
        writer = cv2.VideoWriter(os.path.join(folder, f"video{v:03d}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                                 (width, height))
        for _ in range(frames):
            frame = ground.copy()
            for s in shapes:
                for axis, limit in (("x", width), ("y", height)):
                    s[axis] += s["d" + axis]
                    if not s["r"] <= s[axis] <= limit - s["r"]:
                        s["d" + axis] *= -1
                        s[axis] = min(max(s[axis], s["r"]), limit - s["r"])
                x, y, r = int(s["x"]), int(s["y"]), s["r"]
                if s["kind"]:
                    cv2.circle(frame, (x, y), r, s["colour"], -1)
                else:
                    cv2.rectangle(frame, (x - r, y - r), (x + r, y + r), s["colour"], -1)
            writer.write(frame)
        writer.release()


def run(command):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return round(time.perf_counter() - start, 1), done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--val_videos", type=int, default=6)
    parser.add_argument("--footage", default="", help="a folder of real videos instead of the generated ones")
    parser.add_argument("--train_flags", default="", help="more vidrep-train flags, after the config's (a trial)")
    parser.add_argument("--per_video", type=int, default=20, help="patch sequences cut from each video")
    parser.add_argument("--name", default="", help="results file stem (default own_videos, own_videos_real)")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="own_videos-")
    train_dir, val_dir = os.path.join(work, "videos"), os.path.join(work, "held_out")
    if args.footage:
        from keras_vidrep.data.video import find_videos

        found = find_videos(args.footage)
        for folder, paths in ((train_dir, found[:-args.val_videos]), (val_dir, found[-args.val_videos:])):
            os.makedirs(folder)
            for path in paths:
                os.symlink(os.path.abspath(path), os.path.join(folder, os.path.basename(path)))
    else:
        write_footage(train_dir, args.videos, seed=0)
        write_footage(val_dir, args.val_videos, seed=1)
    data, val = os.path.join(work, "patches.h5"), os.path.join(work, "val_patches.h5")
    patches = [*PATCHES, f"--per_video={args.per_video}"]
    seconds = {"preprocess": run([os.path.join(BIN, "vidrep-preprocess"), f"--videos={train_dir}", f"--output={data}",
                                  *patches])[0]}
    run([os.path.join(BIN, "vidrep-preprocess"), f"--videos={val_dir}", f"--output={val}", *patches])
    model_dir, export_dir = os.path.join(work, "run"), os.path.join(work, "export")
    seconds["train"], out = run([os.path.join(BIN, "vidrep-train"), "--flagfile=configs/own_videos.cfg",
                                 f"--model_dir={model_dir}", f"--export_dir={export_dir}", f"--data_file={data}",
                                 f"--val_path={val}", f"--train_minutes={args.minutes}",
                                 *shlex.split(args.train_flags)])
    final = json.loads(out.strip().splitlines()[-1])
    scores = os.path.join(work, "eval.json")
    seconds["eval"], _ = run([os.path.join(BIN, "vidrep-eval"), f"--model_dir={model_dir}", "--dataset=patches",
                              f"--data_path={val}", f"--output_json={scores}"])
    with open(scores, encoding="utf-8") as f:
        evaluated = json.load(f)
    codes = os.path.join(work, "codes.h5")
    seconds["encode"], said = run([os.path.join(BIN, "vidrep-encode"), f"--saved_model={export_dir}",
                                   f"--videos={val_dir}", f"--output={codes}", "--stride=4", "--predict_frames=8",
                                   "--projector_points=0"])
    name = args.name or ("own_videos_real" if args.footage else "own_videos")
    first = sorted(os.listdir(os.path.join(work, "codes_continuations")))[0]  # a .gif before its .mp4
    shutil.copy(os.path.join(work, "codes_continuations", first), os.path.join(HERE, "results",
                                                                            f"{name}_continuation.gif"))
    from keras_vidrep.runtime import cpu

    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu.describe(), "minutes": args.minutes,
              "videos": len(os.listdir(train_dir)), "held_out_videos": len(os.listdir(val_dir)),
              "footage": sorted(os.listdir(train_dir) + os.listdir(val_dir)) if args.footage else "generated",
              "train_flags": args.train_flags, "per_video": args.per_video, "seconds": seconds,
              "steps": final["step"], "final_validation": final["final_validation"],
              "eval": {name: {metric: value["mean"] for metric, value in numbers.items()}
                       for name, numbers in evaluated.items() if name != "info"},
              "encode": said.strip().splitlines()[-1]}
    path = os.path.join(HERE, "results", f"{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
