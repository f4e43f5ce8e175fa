"""vidrep-encode's speed on new videos for each family, and the start-up of a plain TensorFlow client that loads an
export and encodes one video. For each family, trains a small run for a few steps (the speed of encoding does not
depend on the weights), writes `--videos` synthetic videos of `--frames` 320x240 frames (OpenCV, mp4v), then times:

  * `vidrep-encode --model_dir` and `--saved_model` over them: videos/s and clips/s of the whole command, start-up
    included;
  * a fresh Python process without the package (bench/plain_tf_client.py): import TensorFlow, load the SavedModel,
    decode one video with OpenCV, call the export's raw-video signature — seconds to the answer.

The families:
  * bouncing: configs/quickstart.cfg (1x256 units, 64x64 grey frames), every clip of 10 frames (stride 1);
  * patches: configs/ucf_patches.cfg (2048 units, 32x32 RGB patches cut at the frames' own size), a grid of 10x7
    patches a clip, every `--patch_stride`-th clip;
  * features: an LSTM classifier (1x512) of ResNet50 features (random weights: ImageNet's cannot be downloaded
    here; the speed is the same), every 4th frame, clips of 16 kept frames at stride 1; the backbone runs in the
    run's process and inside the export.

  .venv/bin/python bench/encode_speed.py [--families=bouncing,patches,features --videos=8 --frames=120]

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
SHORT = ["--train_steps=2", "--eval_every=2", "--image_every=2", "--checkpoint_every=2", "--summary_every=2"]


def write_videos(folder, count, frames):
    """`count` videos of `frames` 320x240 frames, two classes (folders), a disc moving over a coloured ground."""
    rng = np.random.default_rng(0)
    for v in range(count):
        os.makedirs(os.path.join(folder, f"class{v % 2}"), exist_ok=True)
        writer = cv2.VideoWriter(os.path.join(folder, f"class{v % 2}", f"video{v}.mp4"),
                                 cv2.VideoWriter_fourcc(*"mp4v"), 25, (320, 240))
        x, y = rng.integers(20, 200, 2)
        for t in range(frames):
            frame = np.full((240, 320, 3), (30 + 20 * v, 60, 90 + 40 * (v % 2)), np.uint8)
            cv2.circle(frame, (int(x + 2 * t) % 320, int(y + t) % 240), 18, (255, 255, 255), -1)
            writer.write(frame)
        writer.release()


def timed(command):
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done


def train_run(work, family, folder):
    """Trains the family's small run on (data cut from) the videos; returns (run dir, export dir, model words)."""
    run, export = os.path.join(work, f"{family}_run"), os.path.join(work, f"{family}_export")
    own = [f"--model_dir={run}", f"--export_dir={export}", *SHORT]  # after a flagfile: they override it

    def train(config=None, *flags):
        base = [f"--flagfile={os.path.join(ROOT, 'configs', config)}"] if config else []
        timed([os.path.join(BIN, "vidrep-train"), *base, *own, *flags])

    if family == "bouncing":
        train("quickstart.cfg")
        return run, export, "quickstart.cfg (1x256, 64x64 grey)"
    if family == "patches":
        data = os.path.join(work, "patches.h5")
        timed([os.path.join(BIN, "vidrep-preprocess"), f"--videos={folder}", f"--output={data}", "--kind=patches",
               "--size=32", "--seq_length=20", "--per_video=4"])
        train("ucf_patches.cfg", f"--data_file={data}", f"--val_path={data}", "--val_sequences=8", "--batch_size=4")
        return run, export, "ucf_patches.cfg (2048 units, 32x32 RGB patches, a 10x7 grid of 320x240 frames)"
    stem = os.path.join(work, "fc6")
    timed([os.path.join(BIN, "vidrep-preprocess"), f"--videos={folder}", f"--output={stem}.h5", "--kind=features",
           "--backbone=resnet50", "--weights=none", "--frame_skip=4"])
    files = [f"--data_file={stem}.h5", f"--num_frames_file={stem}_num_frames.txt", f"--labels_file={stem}_labels.txt"]
    train(None, "--task=classifier", "--data=fc6", *files, *[f"--val_{f[2:]}" for f in files], "--feature_dim=2048",
          "--num_classes=2", "--clip_length=16", "--units=512", "--batch_size=4")
    return run, export, "LSTM classifier (1x512, clips of 16) of ResNet50 features, every 4th frame"


def clips_per_video(family, frames, patch_stride):
    if family == "bouncing":
        return frames - 10 + 1
    if family == "patches":
        return (frames - 10) // patch_stride + 1
    return -(-frames // 4) - 16 + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default="bouncing,patches,features")
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--patch_stride", type=int, default=10)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="encode_speed-")
    folder = os.path.join(work, "videos")
    write_videos(folder, args.videos, args.frames)
    from keras_vidrep.runtime import cpu

    result = json.load(open(RESULTS)) if os.path.isfile(RESULTS) else {}
    result.setdefault("families", {})
    for family in args.families.split(","):
        run, export, model = train_run(work, family, folder)
        stride = args.patch_stride if family == "patches" else 1
        clips = args.videos * clips_per_video(family, args.frames, args.patch_stride)
        rows = {}
        for name, source in (("model_dir", f"--model_dir={run}"), ("saved_model", f"--saved_model={export}")):
            seconds, _ = timed([os.path.join(BIN, "vidrep-encode"), source, f"--videos={folder}",
                                f"--output={os.path.join(work, f'{family}_{name}.h5')}", f"--stride={stride}",
                                "--projector_points=0"])
            rows[name] = {"seconds": round(seconds, 2), "videos_per_second": round(args.videos / seconds, 3),
                          "clips_per_second": round(clips / seconds, 1)}
        seconds, done = timed([sys.executable, os.path.join(HERE, "plain_tf_client.py"), export,
                               os.path.join(folder, "class0", "video0.mp4")])
        inner, signature = done.stdout.split()
        result["families"][family] = {
            "date": time.strftime("%Y-%m-%d"), "cpu": cpu.describe(), "model": model, "videos": args.videos,
            "frames_per_video": args.frames, "video_size": [320, 240], "stride": stride, "clips": clips,
            "vidrep_encode": rows, "plain_tf_client": {"process_seconds": round(seconds, 2),
                                                       "seconds_to_answer": round(float(inner), 2),
                                                       "signature": signature}}
        print(json.dumps({family: result["families"][family]}, indent=2), flush=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w", encoding="utf-8") as f:
        json.dump({"families": result["families"]}, f, indent=2)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
