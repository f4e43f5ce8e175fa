"""Shared fixtures: small configs and small data files written in the original formats."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import contextlib  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_vidrep.config import Config  # noqa: E402

# Prepended to scripts that load a SavedModel in a fresh interpreter: importing keras_vidrep fails there, so the
# SavedModel must stand on its own.
WITHOUT_PACKAGE = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "keras_vidrep":
            raise ImportError("keras_vidrep must not be needed to load the SavedModel")
sys.meta_path.insert(0, Block())
"""


# A user's own program (bench/plain_tf_client.py), run where importing keras_vidrep fails: OpenCV decodes a video
# file and the export's raw-video signatures take the frames as they come.
PLAIN_CLIENT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                                 "plain_tf_client.py")
PLAIN_CLIENT = WITHOUT_PACKAGE + """
import runpy
client = runpy.run_path(sys.argv[1], run_name="plain_tf_client")
loaded = client["tf"].saved_model.load(sys.argv[2])
client["answer"](loaded, sys.argv[3], sys.argv[4])
"""


def plain_client(export_dir, video, out, then="", *then_args):
    """The outputs ({"<signature>/<output>": array}) of the plain TensorFlow client on one video file. `then`: more
    code run after it in the same process (one TensorFlow start-up and one load, not two), with the SavedModel as
    `loaded` and its own arguments as `sys.argv[5:]` (`then_args`)."""
    arguments = [PLAIN_CLIENT_PATH, export_dir, video, out, *then_args]
    result = subprocess.run([sys.executable, "-c", PLAIN_CLIENT + then, *map(str, arguments)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out))


@pytest.fixture
def tiny_config(tmp_path):
    """A config small enough to train a few steps in seconds: 32x32 canvas, 14-pixel digits, 32 units."""
    return Config(model_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "export"), canvas_size=32,
                  digit_size=14, units=(32,), batch_size=8, train_steps=6, checkpoint_every=3, summary_every=3,
                  eval_every=6, image_every=6, val_sequences=16, seed=3)


def write_mnist_h5(path, n_train=30, n_test=12):
    """An mnist.h5 like the original: float32 (N, 784) datasets train, train_full and test in [0, 1]."""
    import h5py

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["train"] = rng.random((n_train, 784), dtype=np.float32)
        f["train_full"] = rng.random((n_train + n_test, 784), dtype=np.float32)
        f["test"] = rng.random((n_test, 784), dtype=np.float32)
    return path


def write_mnist_npz(path, n_train=30, n_test=12):
    """A Keras mnist.npz: uint8 x_train (N, 28, 28), y_train, x_test, y_test."""
    rng = np.random.default_rng(1)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n_train, dtype=np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n_test, dtype=np.uint8))
    return path


def write_video(path, frames=30, width=48, height=40, fps=10):
    """An MJPG .avi: a red background (BGR (0, 0, 255)) with a white square moving right by 1 pixel a frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for t in range(frames):
        frame = np.zeros((height, width, 3), np.uint8)
        frame[:] = (0, 0, 255)
        frame[10:18, 5 + t:13 + t] = 255
        writer.write(frame)
    writer.release()
    return path


def run_workers(commands, envs, timeout=400, base_env=None):
    """Starts one process per (command, extra environment over `base_env`, by default this one's) at once and
    waits for all; asserts that every one exited 0 and returns the last line of each one's stdout, parsed as
    JSON."""
    base = os.environ if base_env is None else base_env
    workers = [subprocess.Popen(command, env=dict(base, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for command, env in zip(commands, envs)]
    try:
        outputs = [w.communicate(timeout=timeout) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert all(w.returncode == 0 for w in workers), "\n".join(err[-2000:] for _, err in outputs)
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]


# A real TensorBoard for tests: `tensorboard --logdir` on a free localhost port, asked through its HTTP API.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Board:
    def __init__(self, url):
        self.url = url

    def get(self, path, raw=False):
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            body = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        return body if raw else json.loads(body)

    def post(self, path, body):
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def wait_for(self, check, seconds=120):
        """Polls until `check(self)` is true (TensorBoard loads the event files after it starts serving)."""
        deadline, last = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            try:
                if check(self):
                    return
            except (urllib.error.URLError, ConnectionError, KeyError, ValueError) as e:
                last = e
            time.sleep(0.5)
        raise TimeoutError(f"TensorBoard at {self.url} did not show the data in {seconds} s (last error: {last})")


@contextlib.contextmanager
def tensorboard(logdir):
    """Starts TensorBoard (the installed command, beside this Python) on `logdir`; yields a `Board`; stops it."""
    port = free_port()
    command = [os.path.join(os.path.dirname(sys.executable), "tensorboard"), f"--logdir={logdir}",
               "--host=127.0.0.1", f"--port={port}", "--reload_interval=1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    board = Board(f"http://127.0.0.1:{port}")
    try:
        board.wait_for(lambda b: isinstance(b.get("/data/runs"), list), seconds=90)
        yield board
    except TimeoutError:
        process.terminate()
        raise TimeoutError(f"TensorBoard did not serve: {process.communicate(timeout=30)[1][-2000:]}") from None
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def pool_by_video(clip_probabilities, videos):
    """Video predictions computed in memory, to check the streamed ones: the mean of each video's clip
    probabilities. Returns (video ids, (V, classes))."""
    ids, inverse = np.unique(videos, return_inverse=True)
    sums = np.zeros((len(ids), clip_probabilities.shape[1]), np.float64)
    np.add.at(sums, inverse, clip_probabilities)
    return ids, sums / np.bincount(inverse)[:, None]
