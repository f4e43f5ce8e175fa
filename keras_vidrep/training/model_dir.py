"""A model directory owned by one training process at a time, and nothing left behind by a run that never started.

`ModelDir.open()` takes an OS lock (`flock` on `model_dir/.vidrep.lock`) before anything else is written there. The
lock belongs to the open file, so it ends with the process however the process ends (kill -9 included): there is
never a stale lock to remove by hand. A second trainer on the same directory stops with one line that names the
holder's pid and host. Under MultiWorkerMirroredStrategy only the chief locks (the others write elsewhere).

Until `commit()` (the trainer calls it once the run is ready to take its first step), a failure removes what this
process added: the whole directory if it made it, else only the files it wrote.
"""
import errno
import fcntl
import json
import os
import shutil
import socket
import time

from keras_vidrep.config import CONFIG_FILE, Config
from keras_vidrep.errors import ConfigError

LOCK_FILE = ".vidrep.lock"


class ModelDir:
    """The model directory of one run, locked while the run lives.

    Args:
      path: the directory (made if missing).
    """

    def __init__(self, path):
        if not path:
            raise ConfigError("`model_dir` is required")
        self.path = path
        self._fd = None
        self._made = self._lock_made = False
        self._written = []

    def open(self):
        """Makes (if needed) and locks the directory; ConfigError if it is not writable or another process holds it.
        """
        self._made = not os.path.isdir(self.path)
        lock = os.path.join(self.path, LOCK_FILE)
        try:
            os.makedirs(self.path, exist_ok=True)
            self._lock_made = not os.path.exists(lock)
            while True:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
                self._take(fd)
                try:  # a failed run may have removed the file between our open and our lock: lock the new one
                    if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                        break
                except FileNotFoundError:
                    pass
                os.close(fd)
        except OSError as e:
            raise ConfigError(f"`model_dir` {self.path!r} is not writable ({e.strerror})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        self._fd = fd
        return self

    def _take(self, fd):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(f"`model_dir` {self.path!r} cannot be locked ({e.strerror})") from None
            raise ConfigError(f"`model_dir` {self.path!r} is in use by another training process ({holder}); wait "
                              f"for it to end, or give this run another `model_dir`") from None

    def check_config(self, config):
        """ConfigError if the directory holds a run of another architecture (nothing is written)."""
        if os.path.isfile(os.path.join(self.path, CONFIG_FILE)):
            changed = Config.load(self.path).architecture_changes(config)
            if changed:
                raise ConfigError(f"`model_dir` {self.path!r} holds a run with a different model "
                                  f"({'; '.join(changed)}); use a new `model_dir`")

    def write_config(self, config):
        """Writes config.json (after `check_config`)."""
        self.check_config(config)
        path = os.path.join(self.path, CONFIG_FILE)
        if not os.path.isfile(path):
            self._written.append(path)
        config.save(self.path)

    def commit(self):
        """The run has started: what it wrote stays, whatever happens next."""
        self._made, self._lock_made, self._written = False, False, []

    def abandon(self):
        """Removes what this process added since `open()` (before `commit()`), and releases the lock."""
        if self._made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            for path in self._written + ([os.path.join(self.path, LOCK_FILE)] if self._lock_made else []):
                if os.path.exists(path):
                    os.remove(path)  # the lock file while still locked: see `open`
        self._made, self._written = False, []
        self.close()

    def close(self):
        """Releases the lock (the lock file stays, holding no lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_holder(fd):
    """`pid N on HOST since ...` from a held lock file (best effort)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError):
        return "its pid is not recorded yet"
