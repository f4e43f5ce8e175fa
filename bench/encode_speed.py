"""vidrep-encode's speed on new videos, and the start-up of a plain TensorFlow client that loads an export and encodes
one video. Trains the quickstart's model for a few steps (the speed of encoding does not depend on its weights),
writes `--videos` synthetic videos of `--frames` 320x240 frames (OpenCV, mp4v), then times:

  * `vidrep-encode --model_dir` and `--saved_model` over them (every clip at `--stride`): videos/s and clips/s of
    the whole command, start-up included;
  * a fresh Python process without the package (bench/plain_tf_client.py): import TensorFlow, load the SavedModel,
    decode one video with OpenCV, call `encode_video_clips` — seconds to the codes.

  .venv/bin/python bench/encode_speed.py [--videos=8 --frames=120 --stride=1]

Writes bench/results/encode_speed.json.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
RESULTS = os.path.join(HERE, "results", "encode_speed.json")



def write_videos(folder, count, frames):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for v in range(count):
        writer = cv2.VideoWriter(os.path.join(folder, f"video{v}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                                 (320, 240))
        x, y = rng.integers(20, 200, 2)
        for t in range(frames):
            frame = np.full((240, 320, 3), (30 + v, 60, 90), np.uint8)
            cv2.circle(frame, (int(x + 2 * t) % 320, int(y + t) % 240), 18, (255, 255, 255), -1)
            writer.write(frame)
        writer.release()


def timed(command):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--stride", type=int, default=1)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="encode_speed-")
    run_dir, export_dir = os.path.join(work, "run"), os.path.join(work, "export")
    timed([os.path.join(BIN, "vidrep-train"), f"--flagfile={os.path.join(ROOT, 'configs', 'quickstart.cfg')}",
           f"--model_dir={run_dir}", f"--export_dir={export_dir}", "--train_steps=3", "--eval_every=3",
           "--image_every=3", "--checkpoint_every=3"])
    folder = os.path.join(work, "videos")
    write_videos(folder, args.videos, args.frames)
    clips = args.videos * ((args.frames - 10) // args.stride + 1)
    rows = {}
    for name, source in (("model_dir", f"--model_dir={run_dir}"), ("saved_model", f"--saved_model={export_dir}")):
        seconds, _ = timed([os.path.join(BIN, "vidrep-encode"), source, f"--videos={folder}",
                            f"--output={os.path.join(work, name + '.h5')}", f"--stride={args.stride}",
                            "--projector_points=0"])
        rows[name] = {"seconds": round(seconds, 2), "videos_per_second": round(args.videos / seconds, 3),
                      "clips_per_second": round(clips / seconds, 1)}
    seconds, done = timed([sys.executable, os.path.join(HERE, "plain_tf_client.py"), export_dir,
                           os.path.join(folder, "video0.mp4")])
    inner, signature = done.stdout.split()
    from keras_vidrep.runtime import cpu

    result = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu.describe(), "model": "quickstart.cfg (1x256, 64x64)",
              "videos": args.videos, "frames_per_video": args.frames, "video_size": [320, 240],
              "stride": args.stride, "clips": clips, "vidrep_encode": rows,
              "plain_tf_client": {"process_seconds": round(seconds, 2), "seconds_to_code": round(float(inner), 2),
                                  "signature": signature}}
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
