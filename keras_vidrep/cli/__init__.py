"""Command-line entry points (absl): parse flags, build a Config, call the library."""
