"""Export a YOLOv8 model for deployment runtimes: ONNX, OpenVINO IR, TensorRT engine (one module each).

Every exported graph takes (B, 3, H, W) uint8 RGB — any B, any H and W divisible by 32 — normalises it
inside, and returns (B, 4 + nc, A) float32 exactly like the PyTorch model; class names, stride, image
size and the yolopt version travel in the file's metadata. The formats and the backends that run them are
listed once, in :mod:`yolopt.backends.registry`.
"""

from __future__ import annotations

from pathlib import Path

from ..backends import registry
from ..model import YoloModel
from .cache import cached_export, weights_digest
from .metadata import export_metadata, parse_names

#: Formats for phones and edge devices: a fixed input square, ``int8``/``data``/``nms``/``verify`` options, and
#: a check against PyTorch before the file is handed over (:mod:`yolopt.export.mobile`). CoreML is export-only.
MOBILE = ("tflite", "ncnn", "coreml")


def formats() -> dict[str, str]:
    """Export format name → file suffix (e.g. ``{"onnx": ".onnx", "openvino": ".xml", "engine": ".engine"}``)."""
    return {fmt: spec.suffix for fmt, spec in registry.export_formats().items()} | {"coreml": ".mlpackage"}


def export(model: str | Path | YoloModel, format: str, out: str | Path, half: bool = False,
           imgsz: int | None = None, **mobile) -> Path:
    """Write ``model`` in ``format`` (one of :func:`formats`, e.g. onnx, openvino, engine) to ``out``; the written file.

    ``mobile`` options (``int8``, ``data``, ``nms``, ``verify``) apply to the formats in :data:`MOBILE`.
    """
    if format in MOBILE:
        from .mobile import export_mobile

        return export_mobile(model, format, out, half, imgsz, **mobile)
    if any(v for k, v in mobile.items() if k != "verify"):
        raise ValueError(f"{', '.join(k for k, v in mobile.items() if v)}: options of {', '.join(MOBILE)} export only")
    return registry.for_format(format).export(model, out, half, imgsz)


__all__ = ["MOBILE", "cached_export", "export", "export_metadata", "formats", "parse_names", "weights_digest"]
