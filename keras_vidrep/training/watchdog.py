"""A guard for multi-worker runs.

A worker blocked in a collective whose peer never came (or died) waits forever inside TensorFlow's C++ code, where
neither SIGTERM nor a Python thread gets to run. So the guard is a separate small process: the trainer sends it a
byte after every step (and every validation batch); if none arrives for `timeout` seconds it prints a clear error
and SIGKILLs the trainer. Local work that waits on no peer and cannot be cut into pieces (pictures, a checkpoint,
the export) runs inside `paused()`: no time limit until it ends. The guard exits by itself when the trainer closes
the pipe or dies.
"""
import contextlib
import os
import subprocess
import sys

_WATCHER = r"""
import os, select, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the trainer; this exits when its pipe closes
fd, pid, timeout, message = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
paused = False
while True:
    ready, _, _ = select.select([fd], [], [], None if paused else timeout)
    if not ready:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        os.kill(pid, signal.SIGKILL)
        sys.exit(0)
    data = os.read(fd, 65536)
    if not data:
        sys.exit(0)
    paused = data.endswith(b"p")
"""


class Watchdog:
    """Kills this process with a message when `kick()` has not been called for `timeout` seconds.

    Args:
      timeout: seconds without progress that are tolerated.
      what: what the process is doing, for the message.
    """

    def __init__(self, timeout, what="multi-worker training"):
        self.timeout = float(timeout)
        message = (f"vidrep-train: error: {what} made no progress for {self.timeout:g} s (`worker_timeout`): "
                   f"a peer worker never started or has died; stopping this worker")
        read_end, self._write_end = os.pipe()
        self._process = subprocess.Popen([sys.executable, "-c", _WATCHER, str(read_end), str(os.getpid()),
                                          str(self.timeout), message], pass_fds=(read_end,))
        os.close(read_end)

    def kick(self):
        """Records progress: the next `timeout` seconds are allowed again."""
        os.write(self._write_end, b".")

    @contextlib.contextmanager
    def paused(self):
        """No time limit while the block runs (local work that cannot hang on a peer); the clock restarts after."""
        os.write(self._write_end, b"p")
        try:
            yield
        finally:
            os.write(self._write_end, b".")

    def stop(self):
        """Disarms the guard; its process exits."""
        if self._write_end is not None:
            os.close(self._write_end)
            self._write_end = None
            self._process.wait()
