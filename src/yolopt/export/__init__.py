"""Export a YOLOv8 model for deployment runtimes: ONNX, OpenVINO IR, TensorRT engine (one module each).

Every exported graph takes (B, 3, H, W) uint8 RGB — any B, any H and W divisible by 32 — normalises it
inside, and returns (B, 4 + nc, A) float32 exactly like the PyTorch model; class names, stride, image
size and the yolopt version travel in the file's metadata.
"""

from __future__ import annotations

from pathlib import Path

from ..model import YoloModel
from .cache import cached_export, weights_digest
from .metadata import export_metadata, parse_names

#: Format name → file suffix.
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "engine": ".engine"}


def export(model: str | Path | YoloModel, format: str, out: str | Path, half: bool = False,
           imgsz: int | None = None) -> Path:
    """Write ``model`` in ``format`` (onnx, openvino or engine) to ``out``; returns the written file."""
    if format == "onnx":
        from .onnx import export_onnx

        return export_onnx(model, out, half, imgsz)
    if format == "openvino":
        from .openvino import export_openvino

        return export_openvino(model, out, half, imgsz)
    if format == "engine":
        from .tensorrt import export_engine

        return export_engine(model, out, half, imgsz)
    raise ValueError(f"unknown export format {format!r}; expected one of {', '.join(SUFFIXES)}")


__all__ = ["SUFFIXES", "cached_export", "export", "export_metadata", "parse_names", "weights_digest"]
