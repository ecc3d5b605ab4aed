"""Inference backends: one small interface, ``infer(uint8 NCHW RGB) -> (B, 4 + nc, A) float32``.

The exported-model backends import their runtime (onnxruntime, openvino, tensorrt) only when built.
"""

from __future__ import annotations

from .base import Backend
from .onnxruntime_backend import ORTBackend
from .openvino_backend import OpenVINOBackend
from .tensorrt_backend import TensorRTBackend
from .torch_backend import TorchBackend

__all__ = ["Backend", "ORTBackend", "OpenVINOBackend", "TensorRTBackend", "TorchBackend"]
