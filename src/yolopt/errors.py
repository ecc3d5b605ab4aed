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
