"""Errors of ``yolopt quantize``: bad input (CLI exit 2) and an accuracy budget that cannot be met (exit 1)."""

from __future__ import annotations

from ..errors import YoloptError


class QuantizeError(YoloptError, RuntimeError):
    """Quantization cannot run on the given inputs; the message names the input and the reason."""


class AccuracyBudgetError(QuantizeError):
    """``max_drop`` was not met; ``best_drop`` is the smallest mAP50-95 drop reached (the model is kept)."""

    exit_code = 1

    def __init__(self, msg: str, best_drop: float | None = None):
        super().__init__(msg)
        self.best_drop = best_drop
