"""A TensorFlow program that knows nothing of keras_vidrep: it decodes a video file with OpenCV and gives its frames,
as decoded, to an export's raw-video signature — a classifier's `classify_video_frames`, else `encode_video_clips`
(every clip's code), else `encode_video` — and, given OUT.npz, also to `encode_video` and `predict_future_frames`
(4 frames) where the export has them, saving every output (`<signature>/<output>`) and the export's description.

  python bench/plain_tf_client.py EXPORT_DIR VIDEO [OUT.npz]

Prints the seconds from its start to the first answer (TensorFlow's import, loading, decoding, the signature) and
the signature it called. bench/encode_speed.py times it; the tests run it where importing keras_vidrep fails.
"""
import sys
import time

START = time.perf_counter()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FIRST = ("classify_video_frames", "encode_video_clips", "encode_video")


def decode(path):
    """Every frame of a video file, uint8 RGB (T, H, W, 3)."""
    capture, frames = cv2.VideoCapture(path), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def outputs(name, result):
    """{"<signature>/<output>": numpy} with strings as str."""
    return {f"{name}/{key}": value.numpy().astype(str) if value.dtype == tf.string else value.numpy()
            for key, value in result.items()}


def answer(loaded, path, out=None):
    """Gives the frames of the video file `path` to the loaded export's first raw-video signature (and, with `out`,
    to the others, saving everything to OUT.npz); returns (the signature's name, seconds from this program's start
    to its answer)."""
    video = tf.constant(decode(path)[None])  # (1, T, H, W, 3) uint8, as decoded
    name = next(n for n in FIRST if n in loaded.signatures)
    every_clip = {"stride": tf.constant(1)} if name != "encode_video" else {}  # clips 1 kept frame apart
    result = outputs(name, loaded.signatures[name](video=video, **every_clip))
    seconds = time.perf_counter() - START
    if out:
        if "encode_video" in loaded.signatures:
            result.update(outputs("encode_video", loaded.signatures["encode_video"](video=video)))
        if "predict_future_frames" in loaded.signatures:
            result.update(outputs("predict_future_frames", loaded.signatures["predict_future_frames"](
                video=video, steps=tf.constant(4))))
        result["describe"] = np.array(loaded.signatures["describe"]()["description"].numpy().decode())
        np.savez(out, **result)
    return name, seconds


def main(export_dir, path, out=None):
    name, seconds = answer(tf.saved_model.load(export_dir), path, out)
    print(seconds, name)


if __name__ == "__main__":
    main(*sys.argv[1:])
