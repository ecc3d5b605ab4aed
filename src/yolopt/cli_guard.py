"""One error path for every command: a one-line ``error: ...`` and an exit code that says what failed.

Exit 2: the job could not start or could not write its output. Exit 1: some inputs failed (the command
itself says so). Anything yolopt raises on purpose is a :class:`~yolopt.errors.YoloptError` carrying its
code; other exceptions (a corrupt file deep in a library, a full disk) are named by type and reason.
Set ``YOLOPT_DEBUG=1`` to see the traceback too.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click
import typer

from .errors import YoloptError, os_reason

F = TypeVar("F", bound=Callable[..., Any])


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception that ended a command."""
    if isinstance(exc, YoloptError):
        return str(exc), exc.exit_code
    if isinstance(exc, OSError) and exc.strerror:
        return (f"{exc.filename}: {os_reason(exc)}" if exc.filename is not None else os_reason(exc)), 2
    if isinstance(exc, RecursionError):
        return "input is nested too deeply to process", 2
    if isinstance(exc, KeyError):
        return f"missing entry {exc}", 2
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else 'no details'}", 2


def guarded(fn: F) -> F:
    """Wrap a command so no exception escapes as a traceback (typer/click exits pass through)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as e:  # the single handler: everything else ends here, in one line
            if os.environ.get("YOLOPT_DEBUG"):
                traceback.print_exc()
            msg, code = describe(e)
            typer.echo(f"error: {msg}", err=True)
            raise typer.Exit(code) from None

    return wrapper  # type: ignore[return-value]


def command(app: typer.Typer, name: str | None = None, **kw: Any) -> Callable[[F], F]:
    """``@app.command`` with the common error handler: how every yolopt command is registered."""

    def register(fn: F) -> F:
        app.command(name, **kw)(guarded(fn))
        return fn

    return register
