"""TFLite (LiteRT) export: PyTorch → .tflite by LiteRT's own converter, FP16 / INT8 by LiteRT's quantizer.

The graph takes (1, H, W, 3) uint8 RGB — channels last, as camera frames come and as LiteRT's kernels
want (no transpose in the graph) — at the fixed ``imgsz`` square, and returns (1, 4 + nc, A) float32 like
every yolopt export (or final detections with ``nms``). Metadata is a JSON "yolopt" entry of the
flatbuffer's ``metadata`` list, readable without the interpreter.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..model import YoloModel, load_model
from ..optional import require
from .metadata import export_metadata

INSTALL = "yolopt[tflite]"
METADATA_NAME = "yolopt"
#: Input layout of the TFLite graph (the metadata says so, for apps that feed it).
INPUT_LAYOUT = "uint8 NHWC RGB 0-255 (normalised inside the graph)"
#: What INT8 keeps float, by op scope (LiteRT's quantizer matches the output tensor names plus ";"): the box
#: decoding — ops directly in the Detect module (``Detect_22;`` and ``Detect_22;57;``: anchor arithmetic, concat,
#: score sigmoid), its DFL and the graph output — and the last 1x1 convolution of each head branch
#: (``Sequential_i/...Conv2d_2``, the 6 of the network's 63 convs giving box and class logits). One int8 scale cannot
#: hold pixel boxes (0-640) and scores (0-1) at once; quantizing all of it found 29 % of PyTorch's detections on
#: the samples. The unnumbered ``Detect_22;`` is the anchor-minus-distance corner: int8 there is a 2.5 px step.
DECODE_SCOPE = r"(Detect_\d+;\d*;$|DFL_dfl|^serving_default_output|Detect_\d+/[^;]*Sequential_\d+/torch\.nn\.modules\.conv\.Conv2d_2;)"


def _quiet_converter() -> None:
    """Silence the converter's INFO chatter (progress lines, absl and TF C++ logs); warnings still show."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("litert_torch").setLevel(logging.WARNING)
    logging.getLogger("absl").setLevel(logging.WARNING)
    logging.getLogger("torchao").setLevel(logging.ERROR)  # "Failed to load" its CUDA kernels: not used on CPU


def _float_tflite(model: YoloModel, imgsz: int, nms: dict | None = None) -> bytes:
    """The FP32 .tflite flatbuffer of the fused network (NHWC uint8 in), via ``litert_torch.convert``."""
    _quiet_converter()
    litert_torch = require("litert_torch", INSTALL, "TFLite export")
    import torch

    from .graph import ExportGraph, example_input
    from .nms_graph import NMSGraph

    graph = (ExportGraph(model) if nms is None else NMSGraph(model, **nms)).eval()
    wrapped = litert_torch.to_channel_last_io(graph, args=[0]).eval()  # NHWC input, same outputs
    sample = example_input(imgsz).permute(0, 2, 3, 1).contiguous()
    with torch.no_grad():
        edge = litert_torch.convert(wrapped, (sample,))
    return bytes(edge.model_content())


def _quantizer(buf: bytes):
    aeq = require("ai_edge_quantizer", INSTALL, "TFLite FP16/INT8 export")
    return aeq, aeq.Quantizer(bytearray(buf))


def _fp16_weights(buf: bytes) -> bytes:
    """Convolution weights stored as FP16 (LiteRT's float-casting recipe); kernels dequantize them at load."""
    aeq, q = _quantizer(buf)
    weight = aeq.qtyping.TensorQuantizationConfig(num_bits=16, dtype=aeq.qtyping.TensorDataType.FLOAT)
    for op in (aeq.qtyping.TFLOperationName.CONV_2D, aeq.qtyping.TFLOperationName.DEPTHWISE_CONV_2D):
        q.update_quantization_recipe(
            regex=".*", operation_name=op, algorithm_key=aeq.algorithm_manager.AlgorithmName.FLOAT_CASTING,
            op_config=aeq.qtyping.OpQuantizationConfig(weight_tensor_config=weight,
                                                       compute_precision=aeq.qtyping.ComputePrecision.FLOAT,
                                                       explicit_dequantize=True))
    return bytes(q.quantize(enable_progress_bar=False, enable_progress_report=False).quantized_model)


def _input_name(buf: bytes) -> tuple[str, str]:
    """(signature key, input name) of the default signature, as the quantizer's calibration wants them."""
    interp = require("ai_edge_litert.interpreter", INSTALL, "TFLite export").Interpreter(model_content=buf)
    key, sig = next(iter(interp.get_signature_list().items()))
    return key, sig["inputs"][0]


def _int8(buf: bytes, calib: list[np.ndarray]) -> bytes:
    """Full-integer static quantization (int8 weights per channel, int8 activations) calibrated on ``calib``.

    Every op of the network is int8 but the head's last convolutions and the box decoding (:data:`DECODE_SCOPE`);
    activation ranges minimise int8 error on the calibration images (:mod:`.activation_ranges`).
    """
    from .activation_ranges import mse_ranges

    aeq, q = _quantizer(buf)
    algo = aeq.algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT
    q.add_static_config(regex=rf"^(?!.*{DECODE_SCOPE}).*", operation_name=aeq.qtyping.TFLOperationName.ALL_SUPPORTED,
                        activation_num_bits=8, weight_num_bits=8, algorithm_key=algo)
    key, name = _input_name(buf)
    nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in calib]
    calib_run = aeq.calibrator.Calibrator(bytearray(buf), num_threads=os.cpu_count() or 1,
                                          qsv_update_func=aeq.utils.qsv_utils.min_max_update)
    calib_run.calibrate({key: [{name: x} for x in nhwc]}, q._recipe_manager)  # Quantizer.calibrate: no range option
    ranges = mse_ranges(buf, nhwc, calib_run.get_model_qsvs())
    return bytes(q.quantize(ranges, enable_progress_bar=False, enable_progress_report=False).quantized_model)


def add_metadata(buf: bytes, meta: dict[str, str]) -> bytes:
    """``buf`` with ``meta`` as JSON in a flatbuffer metadata entry named :data:`METADATA_NAME`."""
    flatbuffers = require("flatbuffers", INSTALL, "TFLite metadata")
    schema = require("ai_edge_litert.schema_py_generated", INSTALL, "TFLite metadata")
    model = schema.ModelT.InitFromPackedBuf(bytearray(buf), 0)
    data = schema.BufferT()
    data.data = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    model.buffers.append(data)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_NAME.encode()] + [entry]
    builder = flatbuffers.Builder(len(buf) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_metadata(buf: bytes) -> dict[str, str]:
    """The yolopt metadata of a .tflite flatbuffer ({} when it has none); needs only the schema, not a runtime."""
    schema = require("ai_edge_litert.schema_py_generated", INSTALL, "TFLite metadata")
    model = schema.Model.GetRootAs(buf, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_NAME.encode():
            data = model.Buffers(entry.Buffer())
            if data.Offset() > 1:  # stored after the flatbuffer (the quantizer's layout)
                return json.loads(bytes(buf[data.Offset() : data.Offset() + data.Size()]))
            return json.loads(data.DataAsNumpy().tobytes())
    return {}


def export_tflite(model: str | Path | YoloModel, out: str | Path, half: bool = False, imgsz: int | None = None,
                  int8: bool = False, data: str | Path | None = None, nms: dict | None = None) -> Path:
    """Write ``model`` as a .tflite for a fixed ``imgsz`` square: FP32, FP16 weights (``half``) or full INT8
    (``int8``, calibrated on the images in ``data``)."""
    model = load_model(model)
    imgsz = imgsz or model.imgsz
    if int8 and data is None:
        raise ValueError("TFLite INT8 needs calibration images: pass data (--data DIR)")
    calib = None
    if int8:
        from ..optimize.calibration import calibration_inputs

        calib, _ = calibration_inputs(data, imgsz, limit=200)
        calib = [_square(x, imgsz) for x in calib]
    meta = export_metadata(model, imgsz, half) | {"input": INPUT_LAYOUT, "shape": "static",
                                                   "precision": "int8" if int8 else "fp16" if half else "fp32"}
    if nms:
        meta |= {"nms": json.dumps(nms)}
    # metadata goes in before quantizing: the quantizer keeps it, and may store buffers past the flatbuffer
    buf = add_metadata(_float_tflite(model, imgsz, nms), meta)
    if int8:
        buf = _int8(buf, calib)
    elif half:
        buf = _fp16_weights(buf)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(buf)
    tmp.replace(out)
    return out


def _square(x: np.ndarray, imgsz: int) -> np.ndarray:
    """A (1, 3, h, w) letterboxed input padded bottom-right with gray to the fixed (imgsz, imgsz) canvas."""
    from ..backends.static_shape import pad_to

    return pad_to(x, imgsz, imgsz)
