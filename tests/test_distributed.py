"""Distribution: 1 vs 2 MirroredStrategy replicas agree, two real workers under MultiWorkerMirroredStrategy end
with identical weights, and a worker whose peer never comes ends with a clear error instead of hanging."""
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import run_workers

from keras_vidrep import trained

TINY = ["--canvas_size=32", "--digit_size=14", "--units=16", "--batch_size=8", "--train_steps=4",
        "--checkpoint_every=2", "--summary_every=2", "--eval_every=4", "--image_every=4", "--val_sequences=8",
        "--seed=7", "--export=false", "--clipnorm=1"]  # clipping is active and must not depend on replicas
BIN = os.path.dirname(sys.executable)


def train(model_dir, *extra, env=None, tool="vidrep-train"):
    result = subprocess.run([os.path.join(BIN, tool), *extra, "--", *TINY, f"--model_dir={model_dir}"]
                            if tool == "vidrep-launch" else
                            [os.path.join(BIN, tool), *TINY, f"--model_dir={model_dir}", *extra],
                            capture_output=True, text=True, timeout=400, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def final_weights(model_dir):
    model, _, path = trained.restore_model(str(model_dir))
    assert path.endswith("ckpt-4")
    return [np.asarray(w) for w in model.weights]


@pytest.fixture(scope="module")
def one_replica(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("one") / "run"
    train(model_dir)
    assert min(gradient_norms(model_dir)) > 10
    return final_weights(model_dir)


def assert_same_weights(a, b):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def gradient_norms(model_dir):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(model_dir / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    return [float(tf.make_ndarray(e.tensor_proto)) for e in acc.Tensors("gradient_norm")]


def test_two_mirrored_replicas_match_one(tmp_path, one_replica):
    result = train(tmp_path / "two", "--strategy=mirrored", "--cpu_replicas=2")
    assert "global batch 8 = 2 replica(s) x 4 per replica" in result.stderr
    assert_same_weights(one_replica, final_weights(tmp_path / "two"))
    norms = gradient_norms(tmp_path / "two")
    assert len(norms) == 2 and min(norms) > 10  # --clipnorm=1 really clipped every step of both runs


def test_scheduled_sampling_does_not_depend_on_the_replica_count(tmp_path):
    sampled = ["--conditional_future", "--sampling_schedule=linear", "--sampling_steps=4", "--sampling_floor=0.2"]
    train(tmp_path / "one", *sampled)
    train(tmp_path / "two", *sampled, "--strategy=mirrored", "--cpu_replicas=2")
    assert_same_weights(final_weights(tmp_path / "one"), final_weights(tmp_path / "two"))


def test_classifier_dropout_does_not_depend_on_the_replica_count(tmp_path):
    # TINY's composite flags do not apply; the classifier's dropout noise comes with the batch, per example.
    flags = ["--task=classifier", "--data=bouncing_digits", "--num_classes=10", "--clip_length=6", "--units=16",
             "--canvas_size=32", "--digit_size=14", "--batch_size=8", "--train_steps=4", "--val_sequences=8",
             "--input_dropout=0.4", "--eval_every=4", "--checkpoint_every=4", "--export=false", "--seed=7"]
    for name, extra in (("one", []), ("two", ["--strategy=mirrored", "--cpu_replicas=2"])):
        result = subprocess.run([os.path.join(BIN, "vidrep-train"), *flags, f"--model_dir={tmp_path / name}",
                                 *extra], capture_output=True, text=True, timeout=400)
        assert result.returncode == 0, result.stderr[-3000:]
    assert_same_weights(final_weights(tmp_path / "one"), final_weights(tmp_path / "two"))


def test_two_workers_end_with_identical_weights(tmp_path, one_replica):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    logs = tmp_path / "logs"
    result = train(tmp_path / "mw", "--workers=2", f"--worker_logs={logs}", env=env, tool="vidrep-launch")
    chief = json.loads(result.stdout.strip().splitlines()[-1])
    other = json.loads((logs / "worker-1.log").read_text().strip().splitlines()[-1])
    assert chief["chief"] and not other["chief"]
    assert chief["step"] == other["step"] == 4
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith("vidrep-worker")]  # worker 1's scratch removed
    assert (tmp_path / "mw" / "train").is_dir() and (tmp_path / "mw" / "checkpoints").is_dir()
    assert_same_weights(one_replica, final_weights(tmp_path / "mw"))  # 2 workers x 1 replica = 2 replicas


def test_worker_whose_peer_never_comes_fails_within_the_timeout(tmp_path):
    from keras_vidrep.training.local_cluster import tf_configs

    env = dict(os.environ, TF_CONFIG=tf_configs(2)[0])
    start = time.monotonic()
    result = subprocess.run([os.path.join(BIN, "vidrep-train"), *TINY, f"--model_dir={tmp_path / 'alone'}",
                             "--strategy=multi_worker", "--worker_timeout=10", "--worker_start_timeout=10"],
                            capture_output=True, text=True, timeout=200, env=env)
    elapsed = time.monotonic() - start
    assert result.returncode != 0
    assert elapsed < 100
    assert "did not reach its first step in 10 s (`worker_start_timeout`): a peer worker never started" \
        in result.stderr


SLOW_START = """
import sys, time
from keras_vidrep import trained
from keras_vidrep.cli import train
from keras_vidrep.tasks import composite
prepare, delay = composite.Task.prepare_data, float(sys.argv[1])
composite.Task.prepare_data = lambda self: (time.sleep(delay), prepare(self))[1]
sys.argv = ["vidrep-train", *sys.argv[2:]]
train.run()
"""


def test_a_worker_slower_to_start_than_the_step_timeout_is_waited_for(tmp_path):
    """Worker 1 checks its data for 20 s, 2.5 times the 8-s step timeout: the cluster still trains (the
    start-up has its own, longer limit); a worker that dies after the first step is detected by the step timeout
    (see test_worker_whose_peer_dies_fails_with_a_clear_error)."""
    from keras_vidrep.training.local_cluster import tf_configs

    command = [*TINY, f"--model_dir={tmp_path / 'mw'}", "--strategy=multi_worker", "--worker_timeout=8",
               "--worker_start_timeout=120"]
    commands = [[sys.executable, "-c", SLOW_START, str(delay), *command] for delay in (0, 20)]
    reads = run_workers(commands, [dict(TF_CONFIG=c, TMPDIR=str(tmp_path)) for c in tf_configs(2)], timeout=300)
    assert [r["step"] for r in reads] == [4, 4] and reads[0]["weights_sha256"] == reads[1]["weights_sha256"]
    assert not [p for p in os.listdir(tmp_path) if p.startswith("vidrep-worker")]


ENDINGS = {  # how a worker's process may end, after it made its private folder
    "nan": "from keras_vidrep.runs.checkpoints import NonFiniteError; raise NonFiniteError('loss is NaN')",
    "write_error": "raise OSError(28, 'No space left on device')",
    "data_error": "from keras_vidrep.errors import DataError; raise DataError('a video cannot be read')",
    "sigterm": "import signal; os.kill(os.getpid(), signal.SIGTERM); time.sleep(30)",
    "sigkill": "import signal; os.kill(os.getpid(), signal.SIGKILL)",
    "success": "w.stop()",
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_workers_private_folder_is_removed_however_the_worker_ends(tmp_path, ending):
    scratch = tmp_path / "vidrep-worker-1"
    code = ("import os, time; from keras_vidrep.training.watchdog import Watchdog; "
            f"w = Watchdog(60, scratch={str(scratch)!r}); os.makedirs({str(scratch)!r}); "
            f"open(os.path.join({str(scratch)!r}, 'ckpt-1.index'), 'w').close(); w.arm(); w.kick()\n"
            + ENDINGS[ending])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (result.returncode == 0) == (ending == "success"), result.stderr[-2000:]
    deadline = time.monotonic() + 10
    while scratch.exists() and time.monotonic() < deadline:  # the guard removes it as the worker ends
        time.sleep(0.05)
    assert not scratch.exists()


def test_watchdog_kills_a_stuck_process_with_a_message():
    code = ("import time; from keras_vidrep.training.watchdog import Watchdog; w = Watchdog(2, 'the test'); "
            "w.arm(); w.kick(); time.sleep(60)")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == -9 and time.monotonic() - start < 30
    assert "the test made no progress for 2 s" in result.stderr
    ok = subprocess.run([sys.executable, "-c", "from keras_vidrep.training.watchdog import Watchdog; "
                         "w = Watchdog(2); w.kick(); w.stop()"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and not ok.stderr


def test_worker_whose_peer_dies_fails_with_a_clear_error(tmp_path):
    from keras_vidrep.training.local_cluster import tf_configs

    model_dir = tmp_path / "mw"
    command = [os.path.join(BIN, "vidrep-train"), *TINY, f"--model_dir={model_dir}", "--train_steps=100000",
               "--checkpoint_every=5", "--strategy=multi_worker", "--worker_timeout=30"]
    configs = tf_configs(2)
    chief = subprocess.Popen(command, env=dict(os.environ, TF_CONFIG=configs[0]), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    other = subprocess.Popen(command, env=dict(os.environ, TF_CONFIG=configs[1]), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 200
        while not (model_dir / "checkpoints" / "checkpoint").exists():  # both are training
            assert chief.poll() is None and other.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        other.kill()
        killed = time.monotonic()
        _, stderr = chief.communicate(timeout=120)
    finally:
        for p in (chief, other):
            if p.poll() is None:
                p.kill()
    assert chief.returncode != 0 and time.monotonic() - killed < 60
    assert "peer worker" in stderr.strip().splitlines()[-1]


def test_workers_that_restore_different_steps_stop_with_one_line(tmp_path, one_replica):
    """Multi-worker resume needs a file system every worker reads: a worker that sees no checkpoint (here, its own
    empty model_dir) while the chief restores step 4 must not train on."""
    from keras_vidrep.training.local_cluster import tf_configs

    shared = tmp_path / "chief_dir"
    train(shared)  # 4 steps, checkpoints at 2 and 4
    configs = tf_configs(2)
    procs = [subprocess.Popen([os.path.join(BIN, "vidrep-train"), *TINY, f"--model_dir={model_dir}",
                               "--train_steps=8", "--strategy=multi_worker", "--worker_timeout=60"],
                              env=dict(os.environ, TF_CONFIG=config), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for model_dir, config in ((shared, configs[0]), (tmp_path / "elsewhere", configs[1]))]
    errors = [p.communicate(timeout=200)[1] for p in procs]
    for p, stderr in zip(procs, errors):
        assert p.returncode == 2, stderr[-2000:]
        last = stderr.strip().splitlines()[-1]
        assert last.startswith("vidrep-train: error: workers restored different checkpoints"), last
        assert "on a file system that every worker reads" in last
    assert "this one step 4" in errors[0] and "this one step 0" in errors[1]
    assert sorted(os.listdir(shared / "checkpoints")) == sorted(
        ["checkpoint", *(f"ckpt-{s}.{e}" for s in (2, 4) for e in ("index", "data-00000-of-00001"))])


def test_cluster_from_kubernetes_vertex_and_slurm_conventions(monkeypatch):
    from keras_vidrep.config import Config
    from keras_vidrep.errors import ConfigError
    from keras_vidrep.training.strategy import chief_task, cluster_resolver

    tfjob = {"cluster": {"worker": ["job-worker-0:2222", "job-worker-1:2222"]}, "task": {"type": "worker", "index": 1}}
    vertex = {"cluster": {"chief": ["cmle-training-workerpool0-0:2222"], "worker": [
        "cmle-training-workerpool1-0:2222"]}, "task": {"type": "worker", "index": 0}, "environment": "cloud"}
    for spec, chiefs in ((tfjob, [("worker", 0)]), (vertex, [("chief", 0)])):
        monkeypatch.setenv("TF_CONFIG", json.dumps(spec))
        resolver = cluster_resolver("tf_config")
        assert resolver.cluster_spec().as_dict() == spec["cluster"]
        assert (resolver.task_type, resolver.task_id) == (spec["task"]["type"], spec["task"]["index"])
        tasks = [(kind, i) for kind, hosts in spec["cluster"].items() for i in range(len(hosts))]
        assert [t for t in tasks if chief_task(*t, spec["cluster"])] == chiefs
    # What srun sets for task 3 of `sbatch --nodes=2 --ntasks-per-node=2`:
    for name, value in (("SLURM_PROCID", "3"), ("SLURM_STEP_NUM_TASKS", "4"), ("SLURM_NTASKS", "4"),
                        ("SLURM_STEP_NODELIST", "node[07-08]"), ("SLURM_STEP_TASKS_PER_NODE", "2(x2)")):
        monkeypatch.setenv(name, value)
    resolver = cluster_resolver("slurm", port=20000)
    assert resolver.cluster_spec().as_dict() == {"worker": ["node07:20000", "node07:20001", "node08:20000",
                                                            "node08:20001"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 3)
    monkeypatch.delenv("SLURM_STEP_NODELIST")
    with pytest.raises(ConfigError, match="SLURM_STEP_NODELIST missing"):
        cluster_resolver("slurm")
    with pytest.raises(ConfigError, match="`cluster`=slurm describes the workers of `strategy`=multi_worker"):
        Config(cluster="slurm").validate()


def test_two_workers_started_the_way_srun_starts_them(tmp_path):
    from tensorflow.python.distribute.cluster_resolver.slurm_cluster_resolver import expand_hostlist

    def two_free_ports():  # the workers listen on port and port + 1
        for _ in range(50):
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", 0))
                try:
                    b.bind(("127.0.0.1", a.getsockname()[1] + 1))
                except OSError:
                    continue
                return a.getsockname()[1]
        raise RuntimeError("no two consecutive free ports")

    port = two_free_ports()
    assert expand_hostlist("localhost") == ["localhost"]
    command = [os.path.join(BIN, "vidrep-train"), *TINY, f"--model_dir={tmp_path / 'slurm'}",
               "--strategy=multi_worker", "--cluster=slurm", f"--cluster_port={port}", "--worker_timeout=120"]
    slurm = {"SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2", "SLURM_STEP_NODELIST": "localhost",
             "SLURM_STEP_TASKS_PER_NODE": "2", "TMPDIR": str(tmp_path)}
    chief, other = run_workers([command, command], [dict(slurm, SLURM_PROCID=str(k)) for k in (0, 1)])
    assert chief["chief"] and not other["chief"] and chief["step"] == other["step"] == 4
    assert chief["weights_sha256"] == other["weights_sha256"]
    assert (tmp_path / "slurm" / "checkpoints" / "checkpoint").exists()


SLURM_TASK = """
import json, os, sys
from tensorflow.python.eager import context
from tensorflow.python.distribute.cluster_resolver import slurm_cluster_resolver

events = []  # what touched the GPUs, in order, with the CUDA_VISIBLE_DEVICES each saw
initialize = context.Context._initialize_physical_devices
def recorded(self, *args, **kwargs):
    events.append(("devices", os.environ.get("CUDA_VISIBLE_DEVICES")))
    return initialize(self, *args, **kwargs)
context.Context._initialize_physical_devices = recorded
spec = slurm_cluster_resolver.SlurmClusterResolver.cluster_spec
def resolved(self):
    out = spec(self)
    events.append(("resolver", os.environ.get("CUDA_VISIBLE_DEVICES")))
    return out
slurm_cluster_resolver.SlurmClusterResolver.cluster_spec = resolved

import keras_vidrep.cli  # the start-up every command runs
from keras_vidrep.training.strategy import build_strategy
strategy = build_strategy("multi_worker", cluster="slurm", port=int(sys.argv[1]))
print(json.dumps({"events": events, "task": strategy.cluster_resolver.task_id}))
"""


def test_each_slurm_task_on_a_4_gpu_node_gets_its_own_gpu_before_anything_initializes_cuda(tmp_path):
    """srun starts 4 tasks on a node with 4 GPUs (nvidia-smi, faked, lists them; nothing else sees a GPU): every
    task's devices are first initialized after the Slurm resolver set CUDA_VISIBLE_DEVICES to its own GPU."""
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "nvidia-smi").write_text("#!/bin/sh\n" + "".join(f"echo 'GPU {k}: NVIDIA H100 (UUID: GPU-{k})'\n"
                                                              for k in range(4)))
    (tools / "nvidia-smi").chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env.update(PATH=f"{tools}:{os.environ['PATH']}", SLURM_STEP_NODELIST="localhost", SLURM_STEP_NUM_TASKS="4",
               SLURM_STEP_TASKS_PER_NODE="4", SLURM_NTASKS="4", SLURM_JOB_NUM_NODES="1", SLURM_STEP_ID="0")
    results = run_workers([[sys.executable, "-c", SLURM_TASK, str(port)]] * 4,
                          [dict(env, SLURM_PROCID=str(k), SLURM_LOCALID=str(k)) for k in range(4)],
                          timeout=300, base_env=env)
    for k, result in enumerate(results):
        assert result["task"] == k
        assert result["events"][0] == ["resolver", str(k)], result["events"]  # the resolver first
        assert ["devices", str(k)] in result["events"] and ["devices", None] not in result["events"]
