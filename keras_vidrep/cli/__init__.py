"""Command-line entry points (absl): parse flags, check them, then load TensorFlow (`common.load_tensorflow`) and
call the library, so that a bad flag value is refused before TensorFlow's start-up."""
