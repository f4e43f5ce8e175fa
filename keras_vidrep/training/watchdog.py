"""A guard for multi-worker runs.

A worker blocked in a collective whose peer never came (or died) waits forever inside TensorFlow's C++ code, where
neither SIGTERM nor a Python thread gets to run. So the guard is a separate small process: the trainer sends it a
byte after every step (and every validation batch); if none arrives for `timeout` seconds it prints a clear error
and SIGKILLs the trainer. Before the first step the limit is the longer `start_timeout`: every worker waits in the
first collectives until the slowest peer has checked its data, built its model and restored its checkpoint. Local
work that waits on no peer and cannot be cut into pieces (pictures, a checkpoint, the export) runs inside
`paused()`: no time limit until it ends. The guard exits by itself when the trainer closes the pipe or dies, and
then removes the trainer's private folder, whatever ended the trainer.
"""
import contextlib
import os
import subprocess
import sys

_WATCHER = r"""
import os, select, shutil, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the trainer; this exits when its pipe closes
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a scheduler's SIGTERM to the job: the trainer's exit ends this
fd, pid, limits, messages, scratch = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
limits, messages = [float(v) for v in limits.split(",")], messages.split("\n")
limit, message, paused = limits[0], messages[0], False
try:
    while True:
        ready, _, _ = select.select([fd], [], [], None if paused else limit)
        if not ready:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
            os.kill(pid, signal.SIGKILL)
            break
        data = os.read(fd, 65536)
        if not data:
            break
        if b"s" in data:  # training runs: from now on the step timeout
            limit, message = limits[1], messages[1]
        paused = data.endswith(b"p")
finally:
    if scratch:  # the trainer's private folder goes with it, however it ended
        shutil.rmtree(scratch, ignore_errors=True)
"""


class Watchdog:
    """Kills this process with a message when it makes no progress: `start_timeout` seconds until `arm()` (the
    first step: peers may spend long on their data checks, model build and restore), then `timeout` seconds
    between two `kick()`s.

    Args:
      timeout: seconds without progress that are tolerated once training runs.
      what: what the process is doing, for the message.
      start_timeout: seconds allowed before `arm()` (default: `timeout`).
      scratch: a folder removed when this process ends, however it ends (kill -9 included).
    """

    def __init__(self, timeout, what="multi-worker training", start_timeout=None, scratch=None):
        self.timeout = float(timeout)
        self.start_timeout = float(start_timeout or timeout)
        messages = (f"vidrep-train: error: {what} did not reach its first step in {self.start_timeout:g} s "
                    f"(`worker_start_timeout`): a peer worker never started or has died; stopping this worker",
                    f"vidrep-train: error: {what} made no progress for {self.timeout:g} s (`worker_timeout`): "
                    f"a peer worker has died or hangs; stopping this worker")
        read_end, self._write_end = os.pipe()
        self._process = subprocess.Popen([sys.executable, "-c", _WATCHER, str(read_end), str(os.getpid()),
                                          f"{self.start_timeout},{self.timeout}", "\n".join(messages),
                                          scratch or ""], pass_fds=(read_end,))
        os.close(read_end)
        self.armed = False

    def arm(self):
        """Training runs (the first step is done): from now on `timeout` seconds between two kicks."""
        if not self.armed:
            os.write(self._write_end, b"s")
            self.armed = True

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
        """Disarms the guard; its process exits (removing the scratch folder)."""
        if self._write_end is not None:
            os.close(self._write_end)
            self._write_end = None
            self._process.wait()
