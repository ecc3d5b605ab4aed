"""The error of ``yolopt prune``: bad input, found before any pruning or measuring starts (CLI exit 2)."""

from __future__ import annotations

from ...errors import YoloptError


class PruneError(YoloptError, ValueError):
    """Pruning cannot run on the given inputs; the message names the input and the reason."""
