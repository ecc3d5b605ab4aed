"""Inference backends: one small interface, ``infer(uint8 NCHW RGB) -> (B, 4 + nc, A) float32``.

Which backends exist, the files they read and the formats they export to live in one table,
:mod:`yolopt.backends.registry`; runtimes (onnxruntime, openvino, tensorrt) are imported only when built.
"""

from __future__ import annotations

from .base import Backend
from .factory import make_backend
from .registry import BackendSpec, backend_names, register

__all__ = ["Backend", "BackendSpec", "backend_names", "make_backend", "register"]
