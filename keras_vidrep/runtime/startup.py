"""What every command does before TensorFlow loads: its INFO chatter off the terminal, and a faster import.

TensorFlow's native start-up notices (no CUDA driver on a CPU machine, `failed call to cuInit`, oneDNN and CPU
feature notes) are written by C++ before its logging is configured, so TF_CPP_MIN_LOG_LEVEL does not reach them:
the import and the device discovery run with file descriptor 2 captured, and every other line is passed on. Asking
for native logs — TF_CPP_MIN_LOG_LEVEL set in the environment, or `--verbosity` / `-v` on the command line — shows
everything.

Every command runs `prepare()` (`cli.common.load_tensorflow`) after checking its flags and before its first import
that needs TensorFlow (vidrep-train before defining its flags: the task settings import Keras).
"""
import importlib
import importlib.abc
import logging
import os
import sys
import tempfile

from absl import logging as absl_logging

from keras_vidrep.runtime import kernel_library

# Keras imports these at its own import time only for its scikit-learn wrappers and image-gallery plotting, which
# no command here uses (what it saves: docs/speed.md, measured by bench/train_speed.py's "imports").
KERAS_OPTIONAL_IMPORTS = ("sklearn", "matplotlib")
# Start-up lines of TensorFlow's native code that say nothing a user must act on.
NATIVE_NOISE = ("All log messages before absl::InitializeLog", "cudart_stub.cc", "Could not find cuda drivers",
                "failed call to cuInit", "cuda_platform.cc", "cuda_executor.cc", "oneDNN custom operations",
                "This TensorFlow binary is optimized", "rebuild TensorFlow with the appropriate compiler flags",
                "Unable to register cu", "computation placer already registered", "TF-TRT Warning")


# Set in every task `srun` starts. Such a task may be given its share of the node's GPUs by the Slurm cluster
# resolver, which works only if nothing has initialized CUDA before it: no device query here then.
SLURM_TASK = frozenset({"SLURM_PROCID", "SLURM_STEP_ID"})


class _OwnInfoOnly(logging.Filter):
    """Passes warnings and errors from anywhere, but INFO records only from this package."""

    def filter(self, record):
        return record.levelno >= logging.WARNING or "keras_vidrep" in record.pathname


class _Absent(importlib.abc.MetaPathFinder):
    """Makes the named top-level packages (and their submodules) raise ImportError while installed."""

    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ImportError(f"{fullname} is not imported while Keras starts", name=fullname)
        return None


def quiet_tensorflow():
    """Keeps TensorFlow's and Keras's own INFO chatter off the terminal (Python warnings still show; native C++
    logs only from errors up, unless TF_CPP_MIN_LOG_LEVEL is set)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # native errors only; this package's own lines say the rest
    # absl's logger through absl: a plain getLogger("absl") before absl.logging is imported would replace it
    for logger in (absl_logging.get_absl_logger(), logging.getLogger("tensorflow"), logging.getLogger("tensorboard")):
        if not any(isinstance(f, _OwnInfoOnly) for f in logger.filters):
            logger.addFilter(_OwnInfoOnly())


def native_logs_wanted(argv=None):
    """Whether the user asked for TensorFlow's native logs (environment or command line)."""
    argv = sys.argv if argv is None else argv
    return "TF_CPP_MIN_LOG_LEVEL" in os.environ or any(
        a == "-v" or a.startswith(("--verbosity", "-v=")) for a in argv[1:])


class _NativeNoiseFilter:
    """Captures file descriptor 2 while the block runs, then writes back every line that is not `NATIVE_NOISE`."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._capture = tempfile.TemporaryFile()
        os.dup2(self._capture.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._capture.seek(0)
        kept = [line for line in self._capture.read().decode(errors="replace").splitlines(keepends=True)
                if not any(noise in line for noise in NATIVE_NOISE)]
        self._capture.close()
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
        return False


def import_keras():
    """Imports Keras (and with it TensorFlow) with `KERAS_OPTIONAL_IMPORTS` hidden, so that they load later, and
    only in the commands that use them (t-SNE, figures). In such a process `keras.wrappers.SKLearn*` and
    `keras.visualization` are unavailable; programs that import keras_vidrep's library modules are not affected.
    Does nothing when Keras is already imported."""
    if "keras" in sys.modules:
        return
    absent = _Absent(name for name in KERAS_OPTIONAL_IMPORTS if name not in sys.modules)
    sys.meta_path.insert(0, absent)
    try:
        importlib.import_module("keras")
    finally:
        sys.meta_path.remove(absent)


_prepared = False


def prepare():
    """Everything above, once per process."""
    global _prepared
    if _prepared:
        return
    _prepared = True
    kernel_library.apply()  # TF_ENABLE_ONEDNN_OPTS from the choice measured on this CPU, before TensorFlow loads
    wanted = native_logs_wanted()
    quiet_tensorflow()
    if wanted or "keras" in sys.modules:
        import_keras()
        return
    with _NativeNoiseFilter():
        import_keras()
        import tensorflow as tf

        if not SLURM_TASK & os.environ.keys():  # a Slurm task's GPUs are chosen later, by its cluster resolver
            tf.config.list_physical_devices()  # the CUDA probe writes its notices now, not at the first operation
