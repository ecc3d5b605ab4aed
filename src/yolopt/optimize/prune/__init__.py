"""Structured channel pruning (Torch-Pruning) of YOLOv8 detectors, with a report and an accuracy-vs-speed sweep."""

from __future__ import annotations

from typing import Any

from .errors import PruneError

__all__ = ["IMPORTANCES", "PruneError", "PruneResult", "prune"]


def __getattr__(name: str) -> Any:
    # the pruner imports torch: loaded on first use, so `yolopt --help` (which imports the CLI) stays light
    if name in ("IMPORTANCES", "PruneResult", "prune"):
        from . import pruner

        return getattr(pruner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
