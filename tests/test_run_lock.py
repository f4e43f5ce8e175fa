"""The model directory's lease holds where `flock` does not (NFS with local_lock=flock, Lustre with localflock):
two processes whose flock locks nothing still exclude each other; a stale lease is taken over, saying why; a run
that never started leaves the directory as it found it."""
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from keras_vidrep.errors import ConfigError
from keras_vidrep.runs.directory import RunDir
from keras_vidrep.training import loop, run_lock
from keras_vidrep.training.run_lock import RunLock

HOLD = textwrap.dedent("""
    import fcntl, sys
    fcntl.flock = lambda *args: None  # a host-local lock: it never sees the other host's holder
    from keras_vidrep.errors import ConfigError
    from keras_vidrep.training.run_lock import RunLock
    try:
        held = RunLock(sys.argv[1]).open()
    except ConfigError as e:
        print("refused:", e)
        sys.exit(2)
    print("holds", flush=True)
    sys.stdin.read()  # holds until told to stop (stdin closed), however slowly the other process starts
    held.close()
""")


def test_two_processes_with_a_host_local_flock_one_refuses(tmp_path):
    def start():
        return subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "run")], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    holder = start()
    try:
        assert holder.stdout.readline().strip() == "holds", holder.stderr.read()[-2000:]
        held_since = time.time()
        time.sleep(1.0)
        second = start()
        out, err = second.communicate(timeout=120)
        waited = time.time() - held_since
    finally:
        holder.stdin.close()  # the holder ends its lease and exits
        holder.wait(timeout=60)
    assert second.returncode == 2 and holder.returncode == 0, err[-2000:]
    refused = out.strip()
    assert refused.startswith(f"refused: `model_dir` '{tmp_path / 'run'}' is in use by another training process "
                              f"(pid {holder.pid} on {socket.gethostname()}, since ")
    age = int(re.search(r"heartbeat (\d+) s ago", refused).group(1))
    assert 1 <= age <= waited + 1, (age, waited)  # the holder's lease as it made it (no renewal within 30 s)
    assert not pathlib.Path(RunDir(tmp_path / "run").lease).exists()  # the holder's lease ends with it


def write_lease(folder, **holder):
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    lease = {"host": "node-17", "pid": 4242, "token": "theirs", "start": now - 7200, "heartbeat": now, **holder}
    pathlib.Path(RunDir(folder).lease).write_text(json.dumps(lease))


def test_a_fresh_lease_on_another_host_is_respected_and_a_stale_one_taken_over(tmp_path, monkeypatch):
    write_lease(tmp_path / "run", heartbeat=time.time() - 20)
    with pytest.raises(ConfigError, match=r"in use by another training process \(pid 4242 on node-17, since .*, "
                                          r"heartbeat 20 s ago\)"):
        RunLock(str(tmp_path / "run")).open()
    write_lease(tmp_path / "run", heartbeat=time.time() - 3600)  # that node died an hour ago
    held = RunLock(str(tmp_path / "run")).open()
    assert held.took_over.startswith("pid 4242 on node-17") and held.took_over.endswith(
        "its heartbeat is 3600 s old (stale after 300 s)")
    mine = json.loads(pathlib.Path(RunDir(tmp_path / "run").lease).read_text())
    assert mine["pid"] == os.getpid() and mine["host"] == socket.gethostname()
    monkeypatch.setattr(run_lock, "HEARTBEAT_SECONDS", 0.05)  # renewed while held
    held.close()
    held = RunLock(str(tmp_path / "run")).open()
    first = json.loads(pathlib.Path(RunDir(tmp_path / "run").lease).read_text())["heartbeat"]
    time.sleep(0.5)
    assert json.loads(pathlib.Path(RunDir(tmp_path / "run").lease).read_text())["heartbeat"] > first
    held.close()
    assert sorted(os.listdir(tmp_path / "run")) == [".vidrep.lock"]


def test_a_lease_whose_process_is_gone_from_this_host_is_taken_over_at_once(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_lease(tmp_path / "run", host=socket.gethostname(), pid=int(gone.stdout))
    held = RunLock(str(tmp_path / "run")).open()
    assert held.took_over.endswith(f"its process (pid {int(gone.stdout)}) is gone from this host")
    held.close()
    write_lease(tmp_path / "run", host=socket.gethostname(), pid=os.getppid())
    with pytest.raises(ConfigError, match=f"pid {os.getppid()} on .*; wait for it to end \\(a lease not renewed "
                                          f"for 300 s is taken over\\)"):  # alive here, and renewing
        RunLock(str(tmp_path / "run")).open()


def test_a_run_that_fails_before_its_first_step_leaves_the_directory_as_it_was(tiny_config, monkeypatch):
    first = loop.Trainer(tiny_config.replace(export=False, train_steps=2, seed=1).validate())
    first.train()
    folder = tiny_config.model_dir
    def contents():  # every file and folder with its time, but the lock file (it records who holds it)
        return {name: os.path.getmtime(os.path.join(folder, name)) for name in os.listdir(folder)
                if name != ".vidrep.lock"}

    before = contents()
    assert {"train", "validation", "checkpoints", "config.json"} <= set(before)
    config_before = open(os.path.join(folder, "config.json")).read()

    def fail(self):
        raise MemoryError("the step does not fit")

    monkeypatch.setattr(loop.Trainer, "_make_train_step", fail)
    with pytest.raises(MemoryError):
        loop.Trainer(tiny_config.replace(export=False, train_steps=4, seed=2).validate())
    assert open(os.path.join(folder, "config.json")).read() == config_before  # not the failed run's settings
    assert contents() == before

    fresh = os.path.join(os.path.dirname(folder), "fresh")  # a directory the failed run made: gone, and an
    os.makedirs(os.path.join(fresh, "mine"))  # existing one keeps only what it had
    with pytest.raises(MemoryError):
        loop.Trainer(tiny_config.replace(export=False, model_dir=fresh).validate())
    assert sorted(os.listdir(fresh)) == ["mine"]
    fresh = os.path.join(os.path.dirname(folder), "new")
    with pytest.raises(MemoryError):
        loop.Trainer(tiny_config.replace(export=False, model_dir=fresh).validate())
    assert not os.path.exists(fresh)


def test_a_trainer_that_has_just_locked_is_named_by_its_pid(tmp_path):
    """A second trainer that comes between the holder's flock and its writing of who it is waits that moment: the
    refusal names the holder's pid (under load, two trainers started together met in that window)."""
    import fcntl
    import threading

    folder = tmp_path / "run"
    folder.mkdir()
    fd = os.open(RunDir(folder).lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked; who holds it is written a moment later
    holder = {"pid": 4343, "host": "this-host", "since": "2026-12-03 16:00:00"}
    late = threading.Timer(0.3, lambda: os.pwrite(fd, json.dumps(holder).encode(), 0))
    late.start()
    try:
        with pytest.raises(ConfigError, match=r"in use by another training process \(pid 4343 on this-host, since "
                                              r"2026-12-03 16:00:00\)"):
            RunLock(str(folder)).open()
    finally:
        late.join()
        os.close(fd)
