"""Errors caused by what the user asked for (a flag, a file); the command-line tools print them as one line."""


class VidrepError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(VidrepError, ValueError):
    """A flag or config value is out of range or contradicts another."""


class DataError(VidrepError, ValueError):
    """A data file is missing, unreadable, or of the wrong shape, dtype or value range."""
