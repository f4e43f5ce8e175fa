"""What the CPU this runs on can do, read from the operating system (Linux /proc/cpuinfo; elsewhere only the core
count is known): its model, cores and the vector extensions that decide which formulation of a product is fastest.
"""
import functools
import os
import platform

# cpuinfo flag -> the name the docs and benchmarks use
EXTENSIONS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("fma", "FMA"), ("avx512_bf16", "AVX512_BF16"),
              ("amx_bf16", "AMX_BF16"))


@functools.cache
def facts(cpuinfo="/proc/cpuinfo"):
    """{"model": str, "cores": int, "flags": frozenset of cpuinfo flags (empty where unknown)}."""
    model, flags = platform.processor() or platform.machine(), frozenset()
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = frozenset(value.split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return {"model": model, "cores": cores, "flags": flags}


def extensions(info=None):
    """The vector extensions of the CPU, by their usual names."""
    info = info or facts()
    return [name for flag, name in EXTENSIONS if flag in info["flags"]]


def native_bfloat16(info=None):
    """Whether the CPU multiplies bfloat16 in hardware (AVX512_BF16 or AMX); None where its flags are unknown."""
    info = info or facts()
    if not info["flags"]:
        return None
    return bool({"avx512_bf16", "amx_bf16"} & info["flags"])


def describe(info=None):
    """One line: `AMD EPYC (AVX2, FMA), 2 cores`."""
    info = info or facts()
    vector = extensions(info)
    return f"{info['model']} ({', '.join(vector) if vector else 'no AVX2'}), {info['cores']} cores"


def clock_ghz(cpufreq="/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", cpuinfo="/proc/cpuinfo"):
    """(GHz, where it was read): the highest clock cpufreq reports, else the `cpu MHz` of /proc/cpuinfo (a virtual
    machine's nominal clock); (None, None) where neither is readable."""
    try:
        with open(cpufreq, encoding="ascii") as f:
            return int(f.read().strip()) / 1e6, "cpufreq maximum"
    except (OSError, ValueError):
        pass
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "cpu MHz":
                    return float(value) / 1e3, "/proc/cpuinfo cpu MHz"
    except (OSError, ValueError):
        pass
    return None, None


def float32_limit(info=None, ghz=None):
    """The float32 multiply-add limit of the CPU from what the machine says: cores x float32 lanes per vector
    (16 with AVX-512, 8 with AVX2, 4 otherwise) x 2 FMA units per core (the usual x86 server core since Haswell and
    Zen 2; older or smaller cores have one, and then the limit is half) x 2 FLOPs x clock.
    {"gflops", "cores", "lanes", "fma_units", "ghz", "clock_from"}; gflops None where the clock is unknown."""
    info = info or facts()
    lanes = 16 if "avx512f" in info["flags"] else 8 if {"avx2", "avx"} & info["flags"] else 4
    source = "given"
    if ghz is None:
        ghz, source = clock_ghz()
    gflops = None if ghz is None else round(info["cores"] * lanes * 2 * 2 * ghz, 1)
    return {"gflops": gflops, "cores": info["cores"], "lanes": lanes, "fma_units": 2,
            "ghz": None if ghz is None else round(ghz, 3), "clock_from": source}
