"""``yolopt quantize``: INT8 post-training quantization (NNCF for OpenVINO, QDQ for ONNX Runtime), FP16, BF16.

The result is a normal yolopt model file (OpenVINO .xml + .bin, or .onnx) carrying the exporter's metadata with
``precision`` set, so ``Detector``, ``yolopt predict``, ``val``, ``bench`` and ``serve`` take it. A report
(terminal table, JSON, Markdown) compares it with the FP32 model it was made from.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..optional import require
from ..backends import registry
from .calibration import calibration_inputs, image_list, overlap, spread
from .errors import AccuracyBudgetError, QuantizeError

PRECISIONS = ("int8", "fp16", "bf16")
#: Backends ``produce`` can write quantized files for; their file suffixes come from the backend registry.
BACKENDS = ("openvino", "onnxruntime")


@dataclass
class QuantizeResult:
    """What ``quantize`` wrote: the model, the FP32 file it came from, and the report (dict and files)."""

    model: Path
    baseline: Path
    precision: str
    backend: str
    report: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _check_args(backend: str, precision: str, max_drop: float | None, val: Any, data: Any) -> None:
    if precision not in PRECISIONS:
        raise QuantizeError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if backend not in BACKENDS:
        raise QuantizeError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if precision != "int8" and precision not in registry.get(backend).precisions:
        runs = [s for s in BACKENDS if precision in registry.get(s).precisions]
        raise QuantizeError(f"precision {precision!r}: backend {backend} does not run it; use --backend "
                            + " or ".join(runs))
    if max_drop is not None and val is None:
        raise QuantizeError("--max-drop needs --val: a labelled dataset to measure the mAP drop on")
    if max_drop is not None and not 0 <= max_drop < 1:
        raise QuantizeError(f"--max-drop {max_drop}: expected an absolute mAP50-95 drop in [0, 1), e.g. 0.003")
    if precision == "int8" and data is None:
        raise QuantizeError("INT8 needs calibration images (--data): a few hundred images from the target domain")
    if backend == "openvino":
        require("openvino", "yolopt[optimize]", "quantization for OpenVINO")
        if precision == "int8":
            require("nncf", "yolopt[optimize]", "INT8 quantization for OpenVINO")
    else:
        require("onnxruntime", "yolopt[onnx]", "quantization for ONNX Runtime")
        require("onnx", "yolopt[onnx]", "quantization for ONNX Runtime")


def _out_path(out: str | Path, backend: str, precision: str) -> Path:
    out, suffix = Path(out), registry.get(backend).suffix
    if out.suffix == "":
        return out / f"model_{precision}{suffix}"
    if out.suffix != suffix:
        raise QuantizeError(f"--out {out}: backend {backend} writes a {suffix} file (or give a folder)")
    return out


def _baseline(model: str | Path, backend: str) -> Path:
    """The FP32 file quantization starts from: the model itself when it is one, else a cached export."""
    suffix = Path(str(model)).suffix.lower()
    spec = registry.get(backend)
    if registry.for_suffix(suffix) is not None:  # an exported file
        if not Path(model).is_file():
            raise QuantizeError(f"model {model}: no such file")
        if suffix != spec.suffix:
            raise QuantizeError(f"model {model}: backend {backend} quantizes a {spec.suffix} file or a "
                                f".pt/.safetensors model, not {suffix}")
        return Path(model)
    from ..export import cached_export

    try:
        return cached_export(model, spec.export_format)  # type: ignore[arg-type]
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise QuantizeError(f"model {model}: {e}") from e


def quantize(
    model: str | Path,
    data: str | Path | list | None,
    out: str | Path,
    *,
    max_drop: float | None = None,
    val: str | Path | None = None,
    backend: str = "openvino",
    precision: str = "int8",
    imgsz: int = 640,
    calib_images: int = 300,
    batch: int = 8,
    bench: bool = True,
    bench_images: int = 100,
    bench_seconds: float = 10.0,
    ranking_subset: int = 50,
    max_iterations: int = 20,
    log: Callable[[str], None] | None = None,
    html: str | Path | None = None,
) -> QuantizeResult:
    """Quantize ``model`` (name, .pt, .safetensors, FP32 .xml/.onnx) to ``precision``; write it and a report.

    ``data``: calibration images (folder, glob or list; up to ``calib_images`` are used). With ``val`` (a
    labelled COCO/YOLO dataset) both models are scored; with ``max_drop`` as well, INT8 reverts layers to
    float until the mAP50-95 drop is within budget, else raises :class:`AccuracyBudgetError` (best drop
    reached; the best model is still written). ``out``: a .xml/.onnx path, or a folder. ``batch`` is the
    scoring batch; speed is measured as ``yolopt bench`` does (the engine's defaults, ``bench_images`` images
    repeated for at least ``bench_seconds`` per run, FP32 and the result alternating; the report says how).
    ``html``: also write the report there as one self-contained HTML file (written even when the budget fails).
    """
    say = log or (lambda s: print(s, file=sys.stderr))
    _check_args(backend, precision, max_drop, val, data)
    out = _out_path(out, backend, precision)
    t_start = time.perf_counter()
    notes: list[str] = []
    calib: list[np.ndarray] = []
    calib_paths: list[Path] = []
    if precision == "int8":
        calib, calib_paths = calibration_inputs(data, imgsz, calib_images)  # type: ignore[arg-type]
        say(f"calibration: {len(calib)} images from {data}")
    baseline = _baseline(model, backend)
    score = base_map = base_metrics = None
    if val is not None:
        from .scoring import Scorer

        score = Scorer(val, backend, imgsz, batch)
        both = overlap(calib_paths, score.paths) if calib_paths else []
        if both:
            msg = (f"{len(both)} of {len(calib_paths)} calibration images are also validation images (e.g. "
                   f"{both[0].name}): the accuracy measured on {val} will be optimistic")
            warnings.warn(msg, UserWarning, stacklevel=2)
            notes.append(msg)
            say("warning: " + msg)
        say(f"scoring FP32 on {val} ...")
        base_map, base_metrics = score(baseline)
        say(f"FP32 mAP50-95 {base_map:.4f}")

    from .produce import produce

    made = produce(baseline, out, backend, precision, calib, score, base_map, max_drop, ranking_subset,
                   max_iterations, say)
    notes += made.notes
    say(f"wrote {made.path}")

    from .report import build_report, save_report

    # OpenVINO runs an fp16/bf16 file at that inference precision (as predict does by the file's metadata);
    # INT8 runs its float parts at fp32, and an ONNX file carries its precision in its tensors.
    run_precision = precision if registry.get(backend).precision_option and precision != "int8" else "fp32"
    bench_paths = spread(calib_paths or (image_list(data) if data is not None else []), bench_images)
    rep = build_report(baseline=baseline, quantized=made.path, backend=backend, precision=precision,
                       run_precision=run_precision, score=score, base_map=base_map, base_metrics=base_metrics,
                       after=made.scored, bench_paths=bench_paths if bench else [], imgsz=imgsz, bench_seconds=bench_seconds,
                       float_layers=made.float_layers, notes=notes, accuracy=made.accuracy, say=say)
    rep["calibration"] = {"data": str(data), "images": len(calib)}
    rep["seconds"] = round(time.perf_counter() - t_start, 1)
    files = save_report(rep, made.path, say=say, html=html)
    drop = rep.get("drop")
    if max_drop is not None and drop is not None and drop > max_drop:
        ac = made.accuracy
        searched = (f"; NNCF accuracy control (at most {ac['max_iterations']} layer groups reverted to float) "
                    f"reached {ac['controlled_drop']:.4f}, a larger --max-iterations searches further"
                    if "controlled_drop" in ac else "")
        raise AccuracyBudgetError(
            f"mAP50-95 drop {drop:.4f} exceeds --max-drop {max_drop}: the best achievable drop was {drop:.4f} "
            f"({rep['map50_95']['before']:.4f} -> {rep['map50_95']['after']:.4f}{searched}; that model is at "
            f"{made.path}, report {files['markdown']})", drop)
    return QuantizeResult(made.path, baseline, precision, backend, rep, files, notes)


