"""The fastest formulation of each recurrent product on the CPU this runs on, chosen by a short measurement.

For every (units, compute dtype) of a model's fused LSTMs, each formulation of the forward product h . K and of
the backward product dz . K^T (`keras_vidrep.models.fused_lstm.FORWARD` / `BACKWARD`) is timed as the trainer runs
it — a compiled graph of a few chained steps at the training batch — and the fastest is used. A choice is cached per
CPU, TensorFlow version, kernel library, batch and shape (`$XDG_CACHE_HOME/keras_vidrep/formulations.json`,
under a file lock), so that every process on a machine — the workers of one job — computes the same products the
same way; a run records its choice in its config.json, so that it computes the same way when resumed.
For products large enough to matter, the kernel library itself (oneDNN or Eigen) is measured once per CPU too
(`keras_vidrep.runtime.kernel_library`).
"""
import fcntl
import json
import os
import statistics
import time

import numpy as np
import tensorflow as tf
from absl import logging

from keras_vidrep.models import fused_lstm
from keras_vidrep.models.lstm import LSTMCell
from keras_vidrep.runtime import cpu, kernel_library

STEPS = 2  # products per timed graph
REPEATS = 3  # timings per formulation; their median is its time


def cache_path():
    return os.path.join(kernel_library.cache_dir(), "formulations.json")


def fused_shapes(model):
    """Sorted (units, compute dtype) of the model's LSTM cells that run fused."""
    cells = [layer for layer in model._flatten_layers() if isinstance(layer, LSTMCell)]
    return sorted({(int(c.units), c.compute_dtype) for c in cells if c.implementation == "fused"})


def _seconds(fn, *args):
    graph = tf.function(fn, autograph=False)
    graph(*args).numpy()  # traced and warmed up
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        graph(*args).numpy()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def measure(batch, units, compute_dtype):
    """{"forward": {name: GFLOP/s}, "backward": {name: GFLOP/s}} at this batch and shape."""
    rng = np.random.default_rng(0)
    h = tf.constant(rng.standard_normal((batch, units), np.float32))
    dz = tf.constant(rng.standard_normal((batch, 4 * units), np.float32))
    kernel = tf.constant(rng.standard_normal((units, 4 * units), np.float32) * 0.01)
    flops = 2.0 * batch * units * 4 * units * STEPS
    out = {"forward": {}, "backward": {}}
    for name in fused_lstm.FORWARD:
        def forward(h, kernel, name=name):
            operand = fused_lstm.forward_operand(tf.cast(kernel, compute_dtype), name)
            return tf.add_n([fused_lstm.forward_product(h * (1.0 + 0.01 * t), operand, name, compute_dtype)
                             for t in range(STEPS)])  # distinct operands: no step is computed once for all
        out["forward"][name] = flops / _seconds(forward, h, kernel) / 1e9
    for name in fused_lstm.BACKWARD:
        def backward(dz, kernel, name=name):
            operand = fused_lstm.backward_operand(tf.cast(kernel, compute_dtype), name)
            return tf.add_n([fused_lstm.backward_product(dz * (1.0 + 0.01 * t), operand, name, compute_dtype)
                             for t in range(STEPS)])
        out["backward"][name] = flops / _seconds(backward, dz, kernel) / 1e9
    return out


def tune(model, batch, recorded=""):
    """Chooses the formulation of every fused LSTM shape of `model` at per-replica `batch` (cached per CPU) and
    logs the choice; `recorded` (see `encode`), the choice a run made when it started, is used as it is, so that a
    resumed run computes as it started. Returns {(units, dtype): (forward, backward)}."""
    shapes = fused_shapes(model)
    if not shapes or tf.config.list_physical_devices("GPU"):
        return {}
    if recorded:
        chosen = decode(recorded)
        for (units, dtype), (forward, backward) in chosen.items():
            fused_lstm.set_formulation(units, dtype, forward, backward)
        logging.info("recurrent products as the run started: %s", recorded)
        return chosen
    start, path = time.perf_counter(), cache_path()
    choose_library(batch, max(units for units, _ in shapes))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one process measures; the others read its choice
            chosen = _choose(shapes, batch, path)
    except OSError as e:  # no writable cache: measured for this process only
        logging.warning("formulation cache %s not usable (%s); measuring for this run only", path, e)
        chosen = _choose(shapes, batch, None)
    logging.info("formulations chosen in %.1f s", time.perf_counter() - start)
    return chosen


def as_started(config, model, batch):
    """The config with the kernel library and formulations of `model`'s recurrent products at per-replica `batch`:
    those the run in `config.model_dir` recorded when it started (a resumed run computes as it started), else this
    process's library and the measured formulations (`tune`), to be recorded with the run's config."""
    started = {}
    if config.run_dir.has_config():
        started = config.run_dir.read_config()
    running = kernel_library.current()
    library = config.kernel_library or started.get("kernel_library") or running
    if library != running:
        logging.warning("this run computes its products with %s, this process with %s (%s=%s was set after the "
                        "start, or TensorFlow loaded before it): results differ by float rounding", library, running,
                        kernel_library.ENV, kernel_library.LIBRARIES[library])
    formulations = config.formulations or started.get("formulations", "")
    if config.autotune or formulations:  # before the steps are traced: they read the chosen formulations
        formulations = encode(tune(model, batch, formulations))
    return config.replace(kernel_library=library, formulations=formulations)


def choose_library(batch, units):
    """Measures oneDNN against Eigen for the largest recurrent product once per CPU (cached), and logs the choice."""
    entry, measured = kernel_library.measure_and_choose(batch, units)
    running = kernel_library.current()
    if entry is None:
        return
    if "error" in entry:
        logging.warning("kernel library not measured (%s); running %s", entry["error"], running)
        return
    rates = "; ".join(f"{name} " + ", ".join(f"{role} {v:.0f}" for role, v in r.items())
                      for name, r in entry["rates"].items())
    how = f"measured in {entry['seconds']} s" if measured else f"measured earlier, {kernel_library.cache_path()}"
    logging.info("kernel library for %s: %s (GFLOP/s: %s; %s)", kernel_library.key(batch, units),
                 entry["library"], rates, how)
    if entry["library"] != running:
        logging.warning("this process runs %s: later runs of this shape on this CPU run %s, measured faster here "
                        "(or set %s=%s now); this run keeps %s when resumed", running, entry["library"],
                        kernel_library.ENV, kernel_library.LIBRARIES[entry["library"]], running)


def _choose(shapes, batch, path):
    cache, chosen = _read(path) if path else {}, {}
    for units, dtype in shapes:
        key = (f"{cpu.describe()} | tensorflow {tf.__version__} | {kernel_library.current()} | batch {batch} | "
               f"units {units} | {dtype}")
        if key not in cache:
            rates = measure(batch, units, dtype)
            cache[key] = {"rates": rates, "forward": max(rates["forward"], key=rates["forward"].get),
                          "backward": max(rates["backward"], key=rates["backward"].get)}
            if path:
                _write(path, cache)
        entry = cache[key]
        fused_lstm.set_formulation(units, dtype, entry["forward"], entry["backward"])
        chosen[(units, dtype)] = (entry["forward"], entry["backward"])
        logging.info("recurrent products, %s: forward %s, backward %s (GFLOP/s %s)", key, entry["forward"],
                     entry["backward"], "; ".join(f"{role} " + ", ".join(f"{n} {v:.0f}" for n, v in r.items())
                                                  for role, r in entry["rates"].items()))
    return chosen


def encode(chosen):
    """{(units, dtype): (forward, backward)} as the text a config records: UNITS:DTYPE:FORWARD:BACKWARD,..."""
    return ",".join(f"{units}:{dtype}:{f}:{b}" for (units, dtype), (f, b) in sorted(chosen.items()))


def decode(text):
    """The inverse of `encode`."""
    chosen = {}
    for item in filter(None, text.split(",")):
        units, dtype, forward, backward = item.split(":")
        chosen[(int(units), dtype)] = (forward, backward)
    return chosen


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write(path, cache):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(cache, f, indent=1)
    os.replace(path + ".tmp", path)
