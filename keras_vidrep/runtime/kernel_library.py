"""Which matrix-product library TensorFlow uses on this CPU: oneDNN or Eigen.

TensorFlow's x86 build runs oneDNN by default only on CPUs with AVX512_VNNI, AVX512_BF16, AVX-VNNI or AMX, and Eigen
elsewhere. Which is faster depends on the CPU and on the product's shape (docs/speed.md). The library is fixed when
TensorFlow loads (`TF_ENABLE_ONEDNN_OPTS`), so the choice is made in two steps:

- `measure_and_choose` (the trainer, for products large enough to matter): times the model's recurrent products
  with each library in a child process (the median of at least `MIN_TIMINGS` calls each) and caches the winner
  for this CPU, TensorFlow version and product shape (per-replica batch x units): a choice made at one shape never
  decides another;
- `apply` (every command, before TensorFlow loads): sets `TF_ENABLE_ONEDNN_OPTS` from, in order, `--kernel_library`
  on the command line, the library a run recorded in its config.json when it started (`--model_dir`: a resumed run
  computes as it started), or the cached choice for the shape the command line names (`--units`, `--batch_size`,
  `--cpu_replicas`, in flags or flag files).

So the first run of a shape on a new CPU measures, and every later start of that shape uses the faster library.
A user's own `TF_ENABLE_ONEDNN_OPTS` always wins. This module does not import TensorFlow (the child process does).
"""
import fcntl
import json
import os
import statistics
import subprocess
import sys
import time
from importlib import metadata

from keras_vidrep.runs.directory import RunDir
from keras_vidrep.runtime import cpu

ENV = "TF_ENABLE_ONEDNN_OPTS"
LIBRARIES = {"onednn": "1", "eigen": "0"}
# A recurrent product smaller than this (FLOPs, batch x units x 4 units x 2) is not worth two child processes:
# its step is dominated by everything but the product.
MIN_FLOPS = 2e8
WARMUP = 3  # untimed calls first: a library's first calls also build its kernels and fill its buffers
SECONDS = 1.0  # timed calls per product for this long (at least MIN_TIMINGS); their median is the rate
MIN_TIMINGS = 5


def cache_dir():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "keras_vidrep")


def cache_path():
    return os.path.join(cache_dir(), "kernel_library.json")


def key(batch, units):
    """This CPU, TensorFlow version and product shape: a choice holds for all three."""
    try:
        version = metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        version = "?"
    return f"{cpu.describe()} | tensorflow {version} | batch {int(batch)} | units {int(units)}"


# Without TF_ENABLE_ONEDNN_OPTS, TensorFlow's x86 Linux build turns oneDNN on only on CPUs with these features
# (its IsMKLEnabled): on an AVX2-only CPU it runs Eigen.
ONEDNN_BY_DEFAULT = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"})


def tensorflow_default(info=None):
    """The library TensorFlow runs on this CPU when TF_ENABLE_ONEDNN_OPTS is not set."""
    return "onednn" if ONEDNN_BY_DEFAULT & (info or cpu.facts())["flags"] else "eigen"


def current():
    """The library this process runs (or will run) with: what a loaded TensorFlow says, else TF_ENABLE_ONEDNN_OPTS
    if set, else TensorFlow's default for this CPU."""
    if "tensorflow" in sys.modules:
        try:
            from tensorflow.python.util import _pywrap_util_port

            return "onednn" if _pywrap_util_port.IsMklEnabled() else "eigen"
        except (ImportError, AttributeError):
            pass
    value = os.environ.get(ENV)
    if value is not None:
        return "eigen" if value.strip().lower() in ("0", "false", "off") else "onednn"
    return tensorflow_default()


def apply(argv=None):
    """Sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads (unless the user set it, or TensorFlow is already loaded)
    from the command line's choice, its run's record or the cache (see the module's docstring). Returns the
    library set, or None."""
    if ENV in os.environ or "tensorflow" in sys.modules:
        return None
    library = choice_for(sys.argv[1:] if argv is None else argv)
    if library is None:
        return None
    os.environ[ENV] = LIBRARIES[library]
    os.environ["VIDREP_KERNEL_LIBRARY_FROM_CACHE"] = library  # the trainer logs where it came from
    return library


def choice_for(argv):
    """The library for a command line: its `--kernel_library`, its run's record, or the cached choice for the shape
    it names; None if none of them says."""
    named = command_line(argv)
    library = named.get("kernel_library") or recorded(named.get("model_dir"))
    if library not in LIBRARIES:
        try:
            replicas = max(1, int(named.get("cpu_replicas") or 1))
            units = max(int(u) for u in str(named["units"]).split(","))
            entry = _read().get(key(int(named["batch_size"]) // replicas, units), {})
        except (KeyError, ValueError):
            entry = {}
        library = entry.get("library")
    return library if library in LIBRARIES else None


CHOICE_FLAGS = ("kernel_library", "model_dir", "units", "batch_size", "cpu_replicas")


def command_line(argv, depth=0):
    """The values of `CHOICE_FLAGS` given in `argv` and in the flag files it names (later ones win, as absl reads
    them)."""
    values = {}
    arguments = list(argv)
    for k, argument in enumerate(arguments):
        if not argument.startswith("--"):
            continue
        name, has_value, value = argument[2:].partition("=")
        if not has_value and k + 1 < len(arguments) and not arguments[k + 1].startswith("-"):
            value = arguments[k + 1]
        if name == "flagfile" and depth < 3:
            try:
                with open(value, encoding="utf-8") as f:
                    lines = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
            except OSError:
                continue
            values.update(command_line(lines, depth + 1))
        elif name in CHOICE_FLAGS:
            values[name] = value
    return values


def recorded(model_dir):
    """The library the run in `model_dir` recorded when it started (None if none)."""
    if not model_dir:
        return None
    try:
        return RunDir(model_dir).read_config().get("kernel_library") or None
    except (OSError, ValueError, AttributeError):  # ConfigError (no config.json) is a ValueError
        return None


def measure_in_child(library, batch, units, timeout=120):
    """GFLOP/s of the forward (batch, units) x (units, 4 units) and backward (batch, 4 units) x (4 units, units)
    recurrent products with `library`, timed in a fresh Python process."""
    env = dict(os.environ, **{ENV: LIBRARIES[library], "TF_CPP_MIN_LOG_LEVEL": "3"})
    env.pop("VIDREP_KERNEL_LIBRARY_FROM_CACHE", None)
    done = subprocess.run([sys.executable, "-m", "keras_vidrep.runtime.kernel_library", str(batch), str(units)],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"timing the {library} products failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_and_choose(batch, units, measure=measure_in_child):
    """Chooses the library for recurrent products of `batch` x `units` on this CPU, by measurement when the cache has
    no choice yet. Returns (entry, measured_now), or (None, False) when the products are too small to matter or the
    user fixed TF_ENABLE_ONEDNN_OPTS. Never raises: a failed measurement keeps the current library."""
    if 2.0 * batch * units * 4 * units < MIN_FLOPS or (ENV in os.environ and
                                                        "VIDREP_KERNEL_LIBRARY_FROM_CACHE" not in os.environ):
        return None, False
    try:
        os.makedirs(cache_dir(), exist_ok=True)
        with open(cache_path() + ".lock", "a", encoding="utf-8") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            cache, entry_key = _read(), key(batch, units)
            if entry_key in cache:
                return cache[entry_key], False
            start = time.perf_counter()
            rates = {name: measure(name, batch, units) for name in LIBRARIES}
            # a step runs each product once: the library with the shorter total time of the two wins
            seconds = {name: sum(1.0 / max(r, 1e-9) for r in rs.values()) for name, rs in rates.items()}
            best = min(seconds, key=seconds.get)
            cache[entry_key] = {"library": best, "batch": batch, "units": units, "rates": rates,
                                "seconds": round(time.perf_counter() - start, 1)}
            _write(cache)
            return cache[entry_key], True
    except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        return {"library": current(), "error": str(e)}, False


def _read():
    try:
        with open(cache_path(), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write(cache):
    path = cache_path()
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(cache, f, indent=1)
    os.replace(path + ".tmp", path)


def _time_products(batch, units):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    operands = {"forward": (rng.standard_normal((batch, units), np.float32),
                            rng.standard_normal((units, 4 * units), np.float32)),
                "backward": (rng.standard_normal((batch, 4 * units), np.float32),
                             rng.standard_normal((4 * units, units), np.float32))}
    out = {}
    for name, (a, b) in operands.items():
        a, b = tf.constant(a), tf.constant(b)
        product = tf.function(lambda a=a, b=b: tf.reduce_sum(tf.matmul(a, b)[:1, :1]))
        for _ in range(WARMUP):
            float(product())
        timings, begin = [], time.perf_counter()
        while time.perf_counter() - begin < SECONDS or len(timings) < MIN_TIMINGS:
            start = time.perf_counter()
            float(product())
            timings.append(time.perf_counter() - start)
        out[name] = float(f"{2.0 * batch * units * 4 * units / statistics.median(timings) / 1e9:.3g}")
    return out


if __name__ == "__main__":  # the child process of `measure_in_child`
    print(json.dumps(_time_products(int(sys.argv[1]), int(sys.argv[2]))))
