"""A real TensorBoard for tests: `tensorboard --logdir` on a free localhost port, asked through its HTTP API."""
import contextlib
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


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
