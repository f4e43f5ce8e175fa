"""N local vidrep-train workers under MultiWorkerMirroredStrategy on one machine (vidrep-launch), and the TF_CONFIG
of each: worker 0 (the chief) prints to this terminal, the others log to files; if one fails, the others are
killed (a worker blocked on a missing peer ignores SIGTERM)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time


def free_ports(count):
    """`count` distinct free TCP ports on 127.0.0.1 (found by binding to port 0)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(count):
    """One TF_CONFIG JSON string per local worker."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(count)]


def launch(count, train_args, log_dir):
    """Starts `count` workers with `train_args`, waits for all, returns the first non-zero exit code (or 0)."""
    command = [sys.executable, "-m", "keras_vidrep.cli.train", *train_args, "--strategy=multi_worker"]
    procs, logs = [], []
    for index, tf_config in enumerate(tf_configs(count)):
        env = dict(os.environ, TF_CONFIG=tf_config)
        if index == 0:
            procs.append(subprocess.Popen(command, env=env))
        else:
            log = open(os.path.join(log_dir, f"worker-{index}.log"), "w", encoding="utf-8")
            logs.append(log)
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    print(f"vidrep-launch: {count} workers; logs of workers 1..{count - 1} in {log_dir}", file=sys.stderr)
    code = 0
    try:
        while any(p.poll() is None for p in procs):
            failed = [p for p in procs if p.returncode not in (None, 0)]
            if failed:
                code = failed[0].returncode
                print(f"vidrep-launch: worker {procs.index(failed[0])} exited with {code}; stopping the others",
                      file=sys.stderr)
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        code = 130
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
        for log in logs:
            log.close()
    return code or next((p.returncode for p in procs if p.returncode), 0)
