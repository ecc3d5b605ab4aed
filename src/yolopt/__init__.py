"""yolopt: fast, exact YOLOv8 object detection."""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Imported on first use, so ``import yolopt`` (and ``yolopt --help``) does not pay for torch.
_LAZY = {
    "Detections": ".results", "Detector": ".detector", "make_backend": ".detector",
    "PredictConfig": ".engine", "load_model": ".model",
}

__all__ = ["Detections", "Detector", "PredictConfig", "__version__", "load_model", "make_backend"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'yolopt' has no attribute {name!r}")
