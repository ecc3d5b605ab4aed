"""Mobile and edge exports (TFLite, NCNN, CoreML): write the file, then check it before the user gets it."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import YoloptError
from ..model import YoloModel, load_model
from .files import model_files
from .verify import Verification, verify

UNVERIFIED = ".unverified"


class VerificationError(YoloptError):
    """The exported file's outputs differ from PyTorch FP32 by more than the format's tolerance (exit 1)."""

    exit_code = 1


def _precision(half: bool, int8: bool) -> str:
    return "int8" if int8 else "fp16" if half else "fp32"


def _write(model: YoloModel, fmt: str, out: Path, half: bool, imgsz: int, int8: bool, data, nms) -> Path:
    if fmt == "tflite":
        from .tflite import export_tflite

        return export_tflite(model, out, half, imgsz, int8, data, nms)
    if fmt == "ncnn":
        from .ncnn import export_ncnn

        return export_ncnn(model, out, half, imgsz, int8, data, nms)
    from .coreml import export_coreml

    return export_coreml(model, out, half, imgsz, int8, data, nms)


def check_file(model: YoloModel, fmt: str, path: Path, precision: str, imgsz: int, nms: dict | None) -> Verification:
    """Run the exported file on the samples with its x86 runtime (CoreML: check its spec) against PyTorch FP32."""
    if fmt == "coreml":
        from .coreml import check_spec

        return check_spec(path, model, imgsz, precision, nms)
    if fmt == "tflite":
        from ..backends.tflite_backend import TFLiteBackend

        backend = TFLiteBackend(path, allow_nms=True)
    else:
        from ..backends.ncnn_backend import NCNNBackend

        backend = NCNNBackend(path)
    return verify(fmt, precision, model, imgsz, backend.infer, nms)


def export_mobile(model: str | Path | YoloModel, fmt: str, out: str | Path, half: bool = False,
                  imgsz: int | None = None, int8: bool = False, data: str | Path | None = None,
                  nms: dict | None = None, verify: bool = True, log=None) -> Path:
    """Export ``model`` to ``fmt`` at a fixed ``imgsz`` and, unless ``verify`` is False, check it.

    A file whose outputs are over the format's tolerance is renamed with a ``.unverified`` suffix and
    :class:`VerificationError` is raised. ``nms`` (conf, iou, max_det) ends the graph in decoding + NMS.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))  # stdout may carry predictions
    model = load_model(model)
    imgsz = imgsz or model.imgsz
    if imgsz % 32:
        raise ValueError(f"imgsz {imgsz}: mobile exports need a multiple of 32")
    if half and int8:
        raise ValueError("--half and --int8 exclude each other")
    if nms is not None:
        nms = {"conf": 0.25, "iou": 0.7, "max_det": 300} | nms
    path = _write(model, fmt, Path(out), half, imgsz, int8, data, nms)
    if not verify:
        log(f"{path}: not verified (--no-verify)")
        return path
    result = check_file(model, fmt, path, _precision(half, int8), imgsz, nms)
    log(result.summary())
    if not result.ok:
        kept = _mark_unverified(path)
        raise VerificationError(f"{fmt} export differs from PyTorch FP32 beyond tolerance; kept as {kept}")
    return path


def _mark_unverified(path: Path) -> Path:
    """Rename the written file(s) with the .unverified suffix so no app loads them by mistake."""
    for p in model_files(path)[1:]:
        if p.exists():
            p.replace(p.with_name(p.name + UNVERIFIED))
    target = path.with_name(path.name + UNVERIFIED)
    path.replace(target)
    return target


def export_tflite_verified(model: str | Path | YoloModel, out: str | Path, half: bool = False,
                           imgsz: int | None = None, **options) -> Path:
    """The registry's TFLite exporter: :func:`export_mobile` for ``"tflite"``."""
    return export_mobile(model, "tflite", out, half, imgsz, **options)


def export_ncnn_verified(model: str | Path | YoloModel, out: str | Path, half: bool = False,
                         imgsz: int | None = None, **options) -> Path:
    """The registry's NCNN exporter: :func:`export_mobile` for ``"ncnn"``."""
    return export_mobile(model, "ncnn", out, half, imgsz, **options)
