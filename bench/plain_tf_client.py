"""A TensorFlow program that knows nothing of keras_vidrep: it decodes a video file with OpenCV and asks an export for
the code of its first clip (and, given OUT.npz, for 4 frames of its continuation and the export's description).

  python bench/plain_tf_client.py EXPORT_DIR VIDEO [OUT.npz]

Prints the seconds from its start to the code (TensorFlow's import, loading, decoding, encoding) and the code size.
bench/encode_speed.py times it; tests/test_export.py runs it where importing keras_vidrep fails.
"""
import sys
import time

START = time.perf_counter()

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(export_dir, path, out=None):
    loaded = tf.saved_model.load(export_dir)
    capture, frames = cv2.VideoCapture(path), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    video = tf.constant(np.stack(frames)[None])  # (1, T, H, W, 3) uint8, as decoded
    code = loaded.signatures["encode_video"](video=video)["representation"].numpy()
    seconds = time.perf_counter() - START
    if out:
        future = loaded.signatures["predict_future_frames"](video=video, steps=tf.constant(4))["future"].numpy()
        description = loaded.signatures["describe"]()["description"].numpy().decode()
        np.savez(out, code=code, future=future, describe=np.array(description))
    print(seconds, code.shape[1])


if __name__ == "__main__":
    main(*sys.argv[1:])
