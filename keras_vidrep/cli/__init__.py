"""Command-line entry points (absl): parse flags, build a Config, call the library."""
from keras_vidrep.runtime import startup

startup.prepare()
