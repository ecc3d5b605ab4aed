"""INT8 for OpenVINO with NNCF: plain post-training quantization, and NNCF's accuracy control under a drop budget."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..optional import require

#: The head's box decoding (DFL softmax and conv, anchor and stride arithmetic) and the class sigmoid stay
#: float: quantizing decoded pixel coordinates moves boxes by whole pixels. Names are our export's ONNX names.
HEAD_IGNORED_PATTERNS = [r".*/model\.22/dfl/.*", r".*/model\.22/(Add|Sub|Mul|Div)(_\d+)?$"]
HEAD_IGNORED_TYPES = ["Sigmoid"]
_COMPUTE = ("Convolution", "GroupConvolution", "MatMul")
_WEIGHT_PATH = ("Convert", "Subtract", "Multiply", "Reshape", "Transpose")
_PASS_THROUGH = ("VariadicSplit", "Split", "Reshape", "Transpose", "Concat", "MaxPool", "Interpolate")


def _nncf() -> Any:
    return require("nncf", "yolopt[optimize]", "INT8 quantization")


def ignored_scope(ignore_head: bool) -> Any:
    """NNCF's IgnoredScope keeping the head's box decoding float (None when everything may be quantized)."""
    if not ignore_head:
        return None
    return _nncf().IgnoredScope(patterns=HEAD_IGNORED_PATTERNS, types=HEAD_IGNORED_TYPES, validate=False)


def quantize_ir(model: Any, calib: list[np.ndarray], ignore_head: bool = True) -> Any:
    """``model`` (openvino.Model, FP32) quantized to INT8 by NNCF, calibrated on ``calib`` (preset MIXED)."""
    nncf = _nncf()
    scope = ignored_scope(ignore_head)
    return nncf.quantize(model.clone(), nncf.Dataset(calib), preset=nncf.QuantizationPreset.MIXED,
                         subset_size=len(calib), **({"ignored_scope": scope} if scope is not None else {}))


def quantize_ir_with_accuracy_control(model: Any, calib: list[np.ndarray], val_paths: list[Path], imgsz: int,
                                      validate: Callable[[Any], float], max_drop: float, ignore_head: bool = True,
                                      ranking_subset: int = 50, max_iterations: int = 20) -> Any:
    """NNCF's accuracy-aware quantization: reverts the layers that cost most mAP to float until ``max_drop`` holds.

    ``validate(compiled_model)`` returns mAP50-95 on all of ``val_paths``. mAP is a dataset metric, so NNCF is
    made to rank layer groups by how far their quantization moves the raw outputs on ``ranking_subset``
    images (a per-image "metric" would cost one full validation per image and group); at most
    ``max_iterations`` groups are reverted, each checked with a full validation.
    """
    nncf = _nncf()
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    from ..data.inputs import load_input

    def validation_fn(compiled: Any, items: Any) -> tuple[float, None]:
        if len(list(items)) < len(val_paths):  # NNCF probing for per-item metrics: refuse, it then uses outputs
            raise ValueError("mAP is computed over the whole validation set only")
        return validate(compiled), None

    scope = ignored_scope(ignore_head)
    val_data = nncf.Dataset(list(range(len(val_paths))), lambda i: load_input(val_paths[i], imgsz).chw[None])
    return nncf.quantize_with_accuracy_control(
        model.clone(), nncf.Dataset(calib), val_data, validation_fn, max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE, preset=nncf.QuantizationPreset.MIXED, subset_size=len(calib),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            max_num_iterations=max_iterations, ranking_subset_size=min(ranking_subset, len(val_paths))),
        **({"ignored_scope": scope} if scope is not None else {}))


def save_ir(model: Any, meta: dict[str, str], precision: str, out: Path, fp16: bool = False) -> Path:
    """Write ``model`` as IR ``out`` with yolopt's metadata (``precision`` updated), .bin first, atomically."""
    ov = require("openvino", "yolopt[openvino]", "quantization")
    from ..export.openvino import RT_INFO_KEY

    for k, v in {**meta, "precision": precision}.items():
        model.set_rt_info(str(v), [RT_INFO_KEY, k])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ov-") as tmp:
        ov.save_model(model, str(Path(tmp) / out.name), compress_to_fp16=fp16)
        for suffix in (".bin", ".xml"):
            (Path(tmp) / out.name).with_suffix(suffix).replace(out.with_suffix(suffix))
    return out


def _reaches(node: Any, through: tuple[str, ...], target: Callable[[Any], bool], depth: int = 6) -> bool:
    """Whether ``node`` is, or is fed through ops of types ``through`` by, a node for which ``target`` holds."""
    if target(node):
        return True
    if depth == 0 or node.get_type_name() not in through:
        return False
    return any(_reaches(v.get_node(), through, target, depth - 1) for v in node.input_values())


def _is_quantizer(node: Any) -> bool:
    return node.get_type_name() == "FakeQuantize"


def _is_int_weight(node: Any) -> bool:
    return _is_quantizer(node) or (node.get_type_name() == "Constant"
                                   and node.get_output_element_type(0).is_integral_number())


def float_layers(model: Any) -> list[str]:
    """Convolutions / MatMuls of a quantized IR whose inputs or weights are not INT8 (they run in float)."""
    out = []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in _COMPUTE:
            continue
        act = _reaches(op.input_value(0).get_node(), _PASS_THROUGH, _is_quantizer)
        wts = _reaches(op.input_value(1).get_node(), _WEIGHT_PATH, _is_int_weight)
        if not (act and wts):
            out.append(op.get_friendly_name().removesuffix("/WithoutBiases"))
    return out
