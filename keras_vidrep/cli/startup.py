"""What every command does before TensorFlow loads: its INFO chatter off the terminal, and a faster import.

Importing `keras_vidrep.cli` runs `prepare()`, so this happens before any command's own imports (task settings
import Keras when flags are defined).
"""
import importlib
import importlib.abc
import logging
import os
import sys

from absl import logging as absl_logging

# Keras imports these at its own import time only for its scikit-learn wrappers and image-gallery plotting, which
# no command here uses: 1.0-1.8 s of a 3.5-4 s start-up on the reference machine (bench/train_speed.py, "imports").
KERAS_OPTIONAL_IMPORTS = ("sklearn", "matplotlib")


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
    """Keeps TensorFlow's and Keras's own INFO chatter (C++ and Python) off the terminal; warnings still show."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    # absl's logger through absl: a plain getLogger("absl") before absl.logging is imported would replace it
    for logger in (absl_logging.get_absl_logger(), logging.getLogger("tensorflow"), logging.getLogger("tensorboard")):
        if not any(isinstance(f, _OwnInfoOnly) for f in logger.filters):
            logger.addFilter(_OwnInfoOnly())


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


def prepare():
    quiet_tensorflow()
    import_keras()
