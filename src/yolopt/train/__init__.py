"""Training: YOLOv8 loss, optimisation, checkpoints and the training loop, over yolopt's model, data and eval."""

from __future__ import annotations

from typing import Any


def train(**kwargs: Any) -> Any:
    """Train a model (see :func:`yolopt.train.trainer.train` for the arguments); returns the run's summary."""
    from .trainer import train as run

    return run(**kwargs)


__all__ = ["train"]
