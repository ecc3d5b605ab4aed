"""yolopt's exception types: one base, so every command maps a failure to one line and one exit code."""

from __future__ import annotations


class YoloptError(Exception):
    """Base of the errors yolopt raises on purpose; ``exit_code`` is what the CLI exits with for it.

    2 means the job could not start or could not write its output; 1 means some inputs failed.
    """

    exit_code = 2


class InputError(YoloptError):
    """One input (image, video frame, file) could not be processed; the rest of the job goes on."""

    exit_code = 1


class OutputError(YoloptError, OSError):
    """An output (detections file, annotated image, saved report) could not be written."""

    exit_code = 2


class ModelError(YoloptError, ValueError):
    """A model file could not be loaded (corrupt, unsupported, too large for what it claims to hold)."""

    exit_code = 2


def os_reason(e: OSError) -> str:
    """Why an OS call failed, in words a user acts on ("disk full" rather than errno 28)."""
    import errno

    return "disk full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
