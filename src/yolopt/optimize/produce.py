"""Make the quantized file for one backend and precision, with accuracy control when a drop budget is given."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import QuantizeError


@dataclass
class Made:
    """The written model, its score on the validation set (if any), layers left float, what the search did."""

    path: Path
    scored: tuple[float, Any] | None = None
    float_layers: list[str] = field(default_factory=list)
    accuracy: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def produce(baseline: Path, out: Path, backend: str, precision: str, calib: list[np.ndarray], score: Any,
            base_map: float | None, max_drop: float | None, ranking_subset: int, max_iterations: int,
            say: Callable[[str], None]) -> Made:
    """Write ``baseline`` at ``precision`` to ``out``; INT8 under ``max_drop`` searches for layers to keep float."""
    if backend == "openvino":
        return _openvino(baseline, out, precision, calib, score, base_map, max_drop, ranking_subset,
                         max_iterations, say)
    return _onnxruntime(baseline, out, precision, calib, score, base_map, max_drop, say)


def _openvino(baseline: Path, out: Path, precision: str, calib: list[np.ndarray], score: Any,
              base_map: float | None, max_drop: float | None, ranking_subset: int, max_iterations: int,
              say: Callable[[str], None]) -> Made:
    import openvino as ov

    from ..backends.openvino_backend import read_metadata
    from .openvino_int8 import float_layers, quantize_ir, quantize_ir_with_accuracy_control, save_ir

    fp32 = ov.Core().read_model(str(baseline))
    meta = read_metadata(fp32)
    if not meta:
        raise QuantizeError(f"model {baseline}: not a yolopt/Ultralytics model (no class-name metadata)")
    if precision != "int8":
        save_ir(fp32.clone(), meta, precision, out, fp16=precision == "fp16")
        made = Made(out, score(out, precision) if score is not None else None)
        if precision == "bf16":
            made.notes.append("bf16: weights stay FP32 on disk; run it with --precision bf16 (OpenVINO's "
                              "INFERENCE_PRECISION_HINT), which needs a CPU with AVX512-BF16/AMX to be fast")
        return made
    say(f"nncf.quantize: preset MIXED, {len(calib)} calibration images, head box decoding kept float ...")
    save_ir(quantize_ir(fp32, calib), meta, "int8", out)
    made = Made(out, score(out) if score is not None else None)
    if made.scored is not None and base_map is not None and max_drop is not None:
        drop = base_map - made.scored[0]
        made.accuracy = {"max_drop": max_drop, "method": "nncf.quantize", "initial_drop": round(drop, 4)}
        say(f"INT8 mAP50-95 {made.scored[0]:.4f}: drop {drop:.4f}, budget {max_drop}")
        if drop > max_drop and max_iterations <= 0:
            made.notes.append("accuracy control skipped (max_iterations 0): no layer was reverted to float")
        elif drop > max_drop:
            say(f"over budget: nncf.quantize_with_accuracy_control (ranking on {ranking_subset} validation images, "
                f"at most {max_iterations} layer groups reverted to float, each checked on the whole set) ...")
            q = quantize_ir_with_accuracy_control(fp32, calib, score.paths, score.imgsz,
                                                  lambda c: score(c, like=baseline)[0], max_drop,
                                                  ranking_subset=ranking_subset, max_iterations=max_iterations)
            trial = save_ir(q, meta, "int8", out.parent / f".{out.stem}.ac" / out.name)
            scored = score(trial)
            made.accuracy.update(method="nncf.quantize_with_accuracy_control", controlled_drop=round(
                base_map - scored[0], 4), max_iterations=max_iterations, ranking_subset=ranking_subset)
            if scored[0] >= made.scored[0]:
                for suffix in (".bin", ".xml"):
                    trial.with_suffix(suffix).replace(out.with_suffix(suffix))
                made.scored = scored
            shutil.rmtree(trial.parent, ignore_errors=True)
    made.float_layers = float_layers(ov.Core().read_model(str(out)))
    return made


def _onnxruntime(baseline: Path, out: Path, precision: str, calib: list[np.ndarray], score: Any,
                 base_map: float | None, max_drop: float | None, say: Callable[[str], None]) -> Made:
    from .onnx_int8 import LEVELS, float_layers_onnx, quantize_onnx, set_metadata

    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16
        import onnx

        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(convert_float_to_float16(onnx.load(str(baseline)), keep_io_types=True), str(out))
        set_metadata(out, precision="fp16")
        return Made(out, score(out) if score is not None else None)
    best: Made | None = None
    tried: dict[str, float] = {}
    for level in LEVELS if max_drop is not None else LEVELS[:1]:
        trial = out.with_name(f".{out.stem}.{level}.onnx")
        say(f"onnxruntime quantize_static (QDQ, per-channel, {len(calib)} calibration images), float: {level} ...")
        quantize_onnx(baseline, trial, calib, level)
        made = Made(trial, score(trial) if score is not None else None)
        if best is None or (made.scored is not None and made.scored[0] > best.scored[0]):  # type: ignore[index]
            best = made
        if made.scored is None or base_map is None or max_drop is None:
            break
        tried[level] = round(base_map - made.scored[0], 4)
        say(f"INT8 (float: {level}) mAP50-95 {made.scored[0]:.4f}: drop {tried[level]:.4f}, budget {max_drop}")
        if tried[level] <= max_drop:
            break
    assert best is not None
    best.path.replace(out)
    for level in LEVELS:
        out.with_name(f".{out.stem}.{level}.onnx").unlink(missing_ok=True)
    best.path = out
    if tried:
        best.accuracy = {"max_drop": max_drop, "method": "float levels " + " -> ".join(tried), "drops": tried}
    best.float_layers = float_layers_onnx(out)
    return best
