"""Inference backends: one small interface, ``infer(uint8 NCHW RGB) -> (B, 4 + nc, A) float32``."""

from __future__ import annotations

from .base import Backend
from .torch_backend import TorchBackend

__all__ = ["Backend", "TorchBackend"]
