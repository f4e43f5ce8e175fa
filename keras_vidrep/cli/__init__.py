"""Command-line entry points (absl): parse flags, build a Config, call the library."""
from keras_vidrep.cli import startup

startup.prepare()
