"""Errors caused by what the user asked for (a flag, a file); the command-line tools print them as one line."""


class VidrepError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(VidrepError, ValueError):
    """A flag or config value is out of range or contradicts another."""


class DataError(VidrepError, ValueError):
    """A data file is missing, unreadable, or of the wrong shape, dtype or value range."""


def write_failure(path, error):
    """Why writing `path` failed, as one line ("no space left on the device writing ..." for a full disk), from an
    OSError or a TensorFlow error."""
    text = (getattr(error, "message", None) or getattr(error, "strerror", None) or str(error) or "").strip()
    if type(error).__name__ == "ResourceExhaustedError" or "No space left" in text \
            or getattr(error, "errno", None) == 28:
        return f"no space left on the device writing {path!r}"
    return f"could not write {path!r} ({(text.splitlines() or [type(error).__name__])[0][:200]})"
