"""Training speed of any task, through the trainer's public API: throughput, achieved matmul rate against the
machine's float32 and bfloat16 matmul peaks measured in the same run, time from command start to the first finished
step, and peak resident memory.

Usage (any vidrep-train flags apply):
  .venv/bin/python bench/train_speed.py --flagfile=configs/quickstart.cfg --steps=50
  .venv/bin/python bench/train_speed.py --flagfile=configs/bouncing_mnist.cfg --digits=sklearn --digits_path= --steps=5
  .venv/bin/python bench/train_speed.py --task=vae --steps=30 --output_json=vae_speed.json
Prints a table and one JSON line (--output_json writes it too). GFLOP/s counts the matrix products of the
composite model's train step (forward and backward, 2 FLOPs per multiply-add); for other tasks it is left out.
For the composite model it also times the same model written plainly in PyTorch (bench/torch_composite.py, in a
child process, right after), when PyTorch is installed: `pip install -e '.[bench]'`.
"""
import time

COMMAND_START = time.time()

import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

import report  # noqa: E402
from absl import app, flags  # noqa: E402

from keras_vidrep.cli import common  # noqa: E402

common.define_config_flags()
flags.DEFINE_integer("steps", 30, "Timed steps (after 2 warm-up steps, which include tracing).")
flags.DEFINE_bool("peaks", True, "Also measure the float32 and bfloat16 matmul peaks in this run.")
flags.DEFINE_bool("torch", True, "Composite model: also time the same model written in PyTorch "
                  "(bench/torch_composite.py, float32, and bfloat16 autocast when --precision=mixed_bfloat16).")
flags.DEFINE_integer("torch_steps", 5, "Timed steps of the PyTorch port.")
flags.DEFINE_string("output_json", "", "Also write the results here.")
flags.adopt_module_key_flags(common)  # so that --help lists them
FLAGS = flags.FLAGS


def process_start():
    """When this process started (Linux: from /proc, so interpreter start-up counts), else when this file ran."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime", encoding="ascii") as f:
            return time.time() - (float(f.read().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return COMMAND_START


def composite_train_flops(settings, batch):
    """FLOPs of the matrix products of one composite-model train step, forward and backward. The backward pass of
    a product costs two products (the gradients of both operands), except where one operand is data: the input
    projection of frames that come from the data (the encoder's, and a teacher-forced conditional decoder's) needs
    only its kernel's gradient."""
    d, units = settings.frame_dim, list(settings.units)
    t_in, t_out = settings.input_frames, settings.future_frames

    def stack(steps, first_input, readout=True):
        total, inputs = 0, first_input
        for layer, u in enumerate(units):
            projection = 2 * batch * steps * inputs * 4 * u
            total += projection * (2 if layer == 0 else 3)  # layer 0 reads data: no input gradient
            total += 3 * 2 * batch * steps * u * 4 * u  # the recurrent products
            inputs = u
        return total + (3 * 2 * batch * steps * units[-1] * d if readout else 0)

    total = stack(t_in, d, readout=False)
    if settings.model in ("composite", "autoencoder"):
        total += stack(t_in, d if settings.conditional_reconstruction else 0)
    if settings.model in ("composite", "future"):
        # a conditional future predictor trained with scheduled sampling reads its own outputs: full backward
        own = settings.conditional_future and settings.sampling_schedule != "teacher_forcing"
        total += stack(t_out, d if settings.conditional_future else 0) + (
            2 * batch * t_out * d * 4 * units[0] if own else 0)
    return total


def torch_port(config, precision):
    """Training speed of bench/torch_composite.py with this config's sizes, in a child process; None (with a
    message) when PyTorch is not installed."""
    if importlib.util.find_spec("torch") is None:
        print("train_speed: PyTorch is not installed, so the PyTorch port is skipped "
              "(pip install -e '.[bench]' installs torch==2.13.0)", file=sys.stderr)
        return None
    s = config.settings
    if len(s.units) != 1 or s.model != "composite" or s.output != "sigmoid" or not s.peepholes:
        print("train_speed: the PyTorch port is the 1-layer peephole composite model with sigmoid outputs; "
              "skipped for this config", file=sys.stderr)
        return None
    command = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_composite.py"),
               f"--units={s.units[0]}", f"--frame_dim={s.frame_dim}", f"--input_frames={s.input_frames}",
               f"--future_frames={s.future_frames}", f"--batch_size={config.batch_size}",
               f"--learning_rate={config.learning_rate}", f"--clipnorm={config.clipnorm}",
               f"--steps={FLAGS.torch_steps}"]
    command += ["--conditional_reconstruction"] * s.conditional_reconstruction
    command += ["--conditional_future"] * s.conditional_future
    command += ["--bfloat16"] * (precision == "bfloat16")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"train_speed: the PyTorch port failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def gflops(product, flops, seconds):
    """GFLOP/s of calling `product` (one product of `flops`) repeatedly for `seconds`, after one untimed call."""
    product()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        product()
        calls += 1
    return round(flops * calls / (time.perf_counter() - start) / 1e9, 1)


def matmul_peaks(shapes, seconds=2.0):
    """{dtype: {"m x k x n": GFLOP/s}} of tf.matmul for each shape, in float32 and bfloat16."""
    import tensorflow as tf

    out = {}
    for dtype in (tf.float32, tf.bfloat16):
        out[dtype.name] = {}
        for m, k, n in shapes:
            a = tf.cast(tf.random.normal((m, k)), dtype)
            b = tf.cast(tf.random.normal((k, n)), dtype)
            product = tf.function(lambda a=a, b=b: tf.reduce_sum(tf.cast(tf.matmul(a, b)[:1, :1], tf.float32)))
            out[dtype.name][f"{m}x{k}x{n}"] = gflops(lambda product=product: float(product()), 2 * m * k * n,
                                                       seconds)
    return out


def numpy_gemm(shapes, seconds=2.0):
    """{"m x k x n": GFLOP/s} of NumPy's float32 matmul (its BLAS, OpenBLAS in the PyPI wheel) for each shape."""
    import numpy as np

    out = {}
    for m, k, n in shapes:
        a, b = np.random.rand(m, k).astype(np.float32), np.random.rand(k, n).astype(np.float32)
        out[f"{m}x{k}x{n}"] = gflops(lambda a=a, b=b: a @ b, 2 * m * k * n, seconds)
    return out


def main(argv):
    del argv
    started = process_start()
    FLAGS.model_dir = tempfile.mkdtemp(prefix="vidrep-bench-")
    FLAGS.export = False
    config = common.config_from_flags()
    from keras_vidrep.models import fused_lstm
    from keras_vidrep.runtime import cpu, kernel_library
    from keras_vidrep.training import loop

    imported = time.time() - started
    trainer = loop.Trainer(config)
    built = time.time() - started
    batches = trainer.batches()
    float(trainer.train_step(batches)["total"])
    first_step = time.time() - started
    float(trainer.train_step(batches)["total"])
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        float(trainer.train_step(batches)["total"])
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # kB on Linux -> GB
    result = {"cpu": cpu.describe(), "date": time.strftime("%Y-%m-%d"), "kernel_library": kernel_library.current(),
              "formulations": {f"{units} {dtype}": "/".join(choice)
                               for (units, dtype), choice in sorted(fused_lstm.chosen().items())},
              "float32_limit": cpu.float32_limit(),
              "task": config.task, "batch_size": config.batch_size,
              "replicas": trainer.strategy.num_replicas_in_sync,
              "steps_per_second": round(FLAGS.steps / elapsed, 3),
              "examples_per_second": round(FLAGS.steps * config.batch_size / elapsed, 1),
              "seconds_to_first_step": round(first_step, 1),
              "seconds_to_first_step_parts": {"imports": round(imported, 1), "trainer": round(built - imported, 1),
                                              "trace_and_step": round(first_step - built, 1)},
              "peak_resident_gb": round(rss, 2),
              "precision": config.precision, "jit_compile": config.jit_compile,
              **{k: v for k, v in config.to_dict().items() if k in ("units", "data", "model")},
              "frame_shape": list(getattr(config, "frame_shape", []))}
    if config.task == "composite":
        flops = composite_train_flops(config.settings, config.batch_size)
        result["gflops_per_step"] = round(flops / 1e9, 2)
        result["achieved_gflops"] = round(flops * FLAGS.steps / elapsed / 1e9, 1)
    if FLAGS.peaks:
        h = list(config.settings.units)[0] if hasattr(config.settings, "units") else 1024
        gate = (config.batch_size, h, 4 * h)
        result["matmul_peak_gflops"] = peaks = matmul_peaks([(2048, 2048, 2048), gate])
        result["numpy_gemm_gflops"] = numpy_gemm([(2048, 2048, 2048), gate])
        best = max(list(peaks["float32"].values()) + list(result["numpy_gemm_gflops"].values()))
        result["best_library_gemm_float32"] = best
        limit = result["float32_limit"]["gflops"]
        if "achieved_gflops" in result:
            result["of_best_library_gemm"] = round(result["achieved_gflops"] / best, 3)
            if limit:
                result["of_float32_limit"] = round(result["achieved_gflops"] / limit, 3)
        if "achieved_gflops" in result:
            for dtype in ("float32", "bfloat16"):
                result[f"utilisation_of_{dtype}_peak"] = round(result["achieved_gflops"] /
                                                               max(peaks[dtype].values()), 3)
    if FLAGS.torch and config.task == "composite":
        for precision in ("float32", "bfloat16") if config.precision == "mixed_bfloat16" else ("float32",):
            port = torch_port(config, precision)
            if port is None:
                break
            result[f"torch_{precision}"] = port
            result[f"speedup_over_torch_{precision}"] = round(
                result["examples_per_second"] / port["examples_per_second"], 2)
    report.emit(result, FLAGS.output_json, table(result))


def table(result):
    limit = result["float32_limit"]
    rows = [("CPU", result["cpu"]),
            ("float32 limit GFLOP/s (cores x lanes x FMA units x 2 x GHz)",
             f"{limit['gflops']} = {limit['cores']} x {limit['lanes']} x {limit['fma_units']} x 2 x {limit['ghz']} "
             f"({limit['clock_from']})"),
            ("kernel library; formulations (forward/backward)",
             f"{result['kernel_library']}; " + (", ".join(f"{k}: {v}" for k, v in result["formulations"].items())
                                                or "none fused")),
            ("task / model", f"{result['task']} {result.get('model', '')} units={result.get('units', '')}"),
            ("precision, XLA", f"{result['precision']}, jit_compile={result['jit_compile']}"),
            ("batch x replicas", f"{result['batch_size']} x {result['replicas']}"),
            ("steps/s", result["steps_per_second"]),
            ("examples/s (sequences; frames for a VAE)", result["examples_per_second"]),
            ("s from command start to first step", result["seconds_to_first_step"]),
            ("  imports / building the trainer / tracing + step",
             " / ".join(str(v) for v in result["seconds_to_first_step_parts"].values())),
            ("peak resident memory (GB)", result["peak_resident_gb"])]
    if "achieved_gflops" in result:
        rows.append(("achieved GFLOP/s (matmuls)", result["achieved_gflops"]))
    for dtype, values in result.get("matmul_peak_gflops", {}).items():
        rows += [(f"{dtype} matmul peak GFLOP/s, {shape}", value) for shape, value in values.items()]
    for shape, value in result.get("numpy_gemm_gflops", {}).items():
        rows.append((f"NumPy float32 GEMM GFLOP/s, {shape}", value))
    for name, what in (("of_best_library_gemm", "the best library GEMM in this run"),
                       ("of_float32_limit", "the float32 limit")):
        if name in result:
            rows.append((f"achieved / {what}", result[name]))
    for dtype in ("float32", "bfloat16"):
        if f"utilisation_of_{dtype}_peak" in result:
            rows.append((f"utilisation of the {dtype} peak", result[f"utilisation_of_{dtype}_peak"]))
    for precision in ("float32", "bfloat16"):
        if f"torch_{precision}" in result:
            port = result[f"torch_{precision}"]
            rows += [(f"PyTorch {port['torch']} port, {precision}: examples/s", port["examples_per_second"]),
                     ("  its float32 / bfloat16 matmul peak (GFLOP/s)",
                      f"{port['matmul_peak_gflops']['float32']} / {port['matmul_peak_gflops']['bfloat16']}"),
                     (f"speed-up over the PyTorch port ({precision})", result[f"speedup_over_torch_{precision}"])]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


if __name__ == "__main__":
    app.run(main)
