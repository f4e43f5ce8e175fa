"""A model directory owned by one training process at a time, and nothing left behind by a run that never started.

`RunLock.open()` takes two locks before anything else is written there:

- an OS lock (`flock` on `model_dir/.vidrep.lock`): it belongs to the open file, so it ends with the process however
  the process ends (kill -9 included) and never needs removing by hand; but on NFS mounted with
  `local_lock=flock` and on Lustre with `localflock` it locks on one host only;
- a lease (`model_dir/.vidrep.lease`), made by exclusive create, which holds the holder's host, pid, start and a
  heartbeat the holder renews every `HEARTBEAT_SECONDS`: it holds across hosts on a shared file system. Another
  process refuses while the heartbeat is fresh, and takes the lease over only when it is stale (no heartbeat for
  `STALE_SECONDS`) or, on the holder's own host, as soon as the holder's process is gone; it says which.

A second trainer on the same directory stops with one line that names the holder's pid and host. Under
MultiWorkerMirroredStrategy only the chief locks (the others write elsewhere).

Until `commit()` (the trainer calls it once the run is ready to take its first step) nothing of the run's own is
written — config.json is written at the commit — and a failure removes what this process added: the whole directory
if it made it, else only the files it made (the lock file among them; the lock's inode check makes that safe).
"""
import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import threading
import time

from absl import logging

from keras_vidrep.config import Config
from keras_vidrep.errors import ConfigError
from keras_vidrep.runs.directory import RunDir

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 300.0  # ten missed heartbeats
HOLDER_WAIT_SECONDS = 2.0  # a refused process waits this long for the holder, just locked, to write who it is


class RunLock:
    """The model directory of one run, held by one training process while the run lives.

    Args:
      path: the directory (made if missing).
    """

    def __init__(self, path):
        self.run = RunDir(path)
        self.path = self.run.path
        self._fd = None
        self._made = self._lock_made = False
        self._written = []
        self._config = None
        self._lease = None  # what this process wrote into the lease file, while it holds it
        self._stop = threading.Event()
        self._heartbeat = None
        self.took_over = None  # why a stale lease was taken over, if one was

    @property
    def lease_path(self):
        return self.run.lease

    def open(self):
        """Makes (if needed) and locks the directory; ConfigError if it is not writable or another process holds it.
        """
        self._made = not os.path.isdir(self.path)
        lock = self.run.lock
        try:
            os.makedirs(self.path, exist_ok=True)
            self._lock_made = not os.path.exists(lock)
            while True:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
                self._take(fd)
                try:  # an older version may have removed the file between our open and our lock: lock the new one
                    if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                        break
                except FileNotFoundError:
                    pass
                os.close(fd)
        except OSError as e:
            if self._made:
                shutil.rmtree(self.path, ignore_errors=True)
            raise ConfigError(f"`model_dir` {self.path!r} is not writable ({e.strerror})") from None
        self._fd = fd
        os.ftruncate(fd, 0)  # who holds it, at once: a process refused meanwhile waits for this
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        try:
            self._take_lease()
        except BaseException:
            self.abandon()
            raise
        return self

    def _take(self, fd):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _wait_for_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ConfigError(f"`model_dir` {self.path!r} cannot be locked ({e.strerror})") from None
            raise ConfigError(f"`model_dir` {self.path!r} is in use by another training process ({holder}); wait "
                              f"for it to end, or give this run another `model_dir`") from None

    def _take_lease(self):
        """Creates the lease file exclusively, taking over a stale one; ConfigError while another holds it."""
        now = time.time()
        mine = {"host": socket.gethostname(), "pid": os.getpid(), "token": secrets.token_hex(8),
                "start": now, "heartbeat": now}
        for _ in range(5):
            try:
                fd = os.open(self.lease_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _read_lease(self.lease_path)
                why = _stale(holder)
                if why is None:
                    raise ConfigError(f"`model_dir` {self.path!r} is in use by another training process "
                                      f"({_describe(holder)}); wait for it to end (a lease not renewed for "
                                      f"{STALE_SECONDS:g} s is taken over), or give this run another `model_dir`"
                                      ) from None
                self._set_aside(holder, why)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(mine, f)
            self._lease = mine
            self._heartbeat = threading.Thread(target=self._renew, daemon=True, name="vidrep-lease")
            self._heartbeat.start()
            return
        raise ConfigError(f"`model_dir` {self.path!r}: its lease keeps changing hands; another process is starting "
                          f"there")

    def _set_aside(self, holder, why):
        """Removes the stale lease `holder` (only if it is still the one read: a lease another process has just
        made is put back)."""
        aside = f"{self.lease_path}.stale-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(self.lease_path, aside)
        except FileNotFoundError:
            return  # another process set it aside first
        if _read_lease(aside) != holder:  # a fresh lease made meanwhile: back where it was
            try:
                os.link(aside, self.lease_path)
            except FileExistsError:
                pass
        else:
            self.took_over = f"{_describe(holder)}: {why}"
            logging.warning("`model_dir` %s: took over the lease of %s", self.path, self.took_over)
        os.remove(aside)

    def _renew(self):
        """The heartbeat: rewrites the lease with the time every HEARTBEAT_SECONDS while it is still this one's."""
        while not self._stop.wait(HEARTBEAT_SECONDS):
            if _read_lease(self.lease_path).get("token") != self._lease["token"]:
                logging.error("`model_dir` %s: this run's lease was taken over by another process", self.path)
                return
            renewed = dict(self._lease, heartbeat=time.time())
            tmp = f"{self.lease_path}.{os.getpid()}.tmp"
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump(renewed, f)
                os.replace(tmp, self.lease_path)
                self._lease = renewed
            except OSError as e:  # a full or unreachable disk: the next beat tries again
                logging.warning("`model_dir` %s: lease not renewed (%s)", self.path, e.strerror)

    def check_config(self, config):
        """ConfigError if the directory holds a run of another architecture (nothing is written)."""
        if self.run.has_config():
            changed = Config.load(self.path).architecture_changes(config)
            if changed:
                raise ConfigError(f"`model_dir` {self.path!r} holds a run with a different model "
                                  f"({'; '.join(changed)}); use a new `model_dir`")

    def write_config(self, config):
        """Checks `config` against the directory's run and keeps it for `commit()`, which writes config.json."""
        self.check_config(config)
        self._config = config

    def commit(self):
        """The run has started: config.json is written, and what it wrote stays, whatever happens next."""
        if self._config is not None:
            self._config.save(self.path)
        self._made, self._lock_made, self._written = False, False, []

    def abandon(self):
        """Removes what this process added since `open()` (before `commit()`), and releases the locks."""
        if self._made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            # The lock file too, if this process made it: while it holds the lease nobody else holds the
            # directory, and a process that opened the file meanwhile sees it gone once locked, and makes another.
            for path in self._written + ([self.run.lock] if self._lock_made else []):
                if os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.exists(path):
                    os.remove(path)
        self._made, self._lock_made, self._written = False, False, []
        self.close()

    def close(self):
        """Ends the lease (its file removed, if it is still this process's) and releases the lock (the lock file
        stays, holding no lock)."""
        if self._heartbeat is not None:
            self._stop.set()
            self._heartbeat.join()
            self._heartbeat = None
        if self._lease is not None:
            if _read_lease(self.lease_path).get("token") == self._lease["token"]:
                try:
                    os.remove(self.lease_path)
                except FileNotFoundError:
                    pass
            self._lease = None
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a later holder's refused rivals never read this process as the holder
            os.close(self._fd)
            self._fd = None


def _read_lease(path):
    """The lease's contents ({} if missing; {"unreadable": mtime} while it is being written or damaged)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        try:
            return {"unreadable": os.path.getmtime(path)}
        except OSError:
            return {}


def _stale(holder):
    """Why the lease `holder` may be taken over, or None while its holder is alive."""
    if not holder:
        return "it is gone"
    beat = holder.get("heartbeat", holder.get("unreadable", 0.0))
    age = time.time() - float(beat)
    if holder.get("host") == socket.gethostname() and "pid" in holder and not _pid_alive(int(holder["pid"])):
        return f"its process (pid {holder['pid']}) is gone from this host"
    if age < STALE_SECONDS:  # a live holder renews it every HEARTBEAT_SECONDS
        return None
    return f"its heartbeat is {age:.0f} s old (stale after {STALE_SECONDS:g} s)"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(holder):
    if "pid" not in holder:
        return "its lease is being written"
    age = time.time() - float(holder.get("heartbeat", 0.0))
    return (f"pid {holder['pid']} on {holder.get('host', '?')}, since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(holder.get('start', 0.0))))}, "
            f"heartbeat {age:.0f} s ago")


def _wait_for_holder(fd):
    """`pid N on HOST, since ...` from a lock file held by another process, which writes it just after locking:
    read again for up to HOLDER_WAIT_SECONDS until it names a live process (best effort)."""
    deadline = time.monotonic() + HOLDER_WAIT_SECONDS
    while True:
        try:
            info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
            holder = f"pid {info['pid']} on {info['host']}, since {info['since']}"
            if info["host"] != socket.gethostname() or _pid_alive(int(info["pid"])):
                return holder
        except (OSError, ValueError, KeyError, TypeError):
            holder = "its pid is not recorded yet"
        if time.monotonic() > deadline:
            return holder
        time.sleep(0.05)
