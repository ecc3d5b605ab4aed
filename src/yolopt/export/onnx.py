"""ONNX export: the fused network with dynamic batch, height and width, metadata in ``metadata_props``."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from ..model import YoloModel, load_model
from ..optional import require
from .graph import ExportGraph, example_input
from .metadata import export_metadata

OPSET = 17
INPUT, OUTPUT = "images", "output"


def to_onnx_proto(model: YoloModel, imgsz: int | None = None, half: bool = False, opset: int = OPSET):
    """Trace :class:`ExportGraph` to an in-memory ``onnx.ModelProto``; anchors are built from the feature shapes
    inside the graph, so one file serves every input size divisible by 32."""
    onnx = require("onnx", "yolopt[onnx]", "ONNX export")
    imgsz = imgsz or model.imgsz
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values, deprecation notes
        torch.onnx.export(
            ExportGraph(model), (example_input(imgsz),), buf, dynamo=False, opset_version=opset,
            input_names=[INPUT], output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 2: "anchors"}},
        )
    proto = onnx.load_from_string(buf.getvalue())
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 4 + model.spec.nc  # tracer leaves it symbolic
    if half:
        fp16 = require("onnxruntime.transformers.float16", "yolopt[onnx]", "FP16 ONNX export")
        # Range (anchor grid) stays FP32: it has no FP16 kernel; uint8 in / float32 out are kept.
        proto = fp16.convert_float_to_float16(proto, keep_io_types=True)
        _sort_nodes(proto.graph)  # the converter appends its Cast nodes at the end of the node list
    for k, v in export_metadata(model, imgsz, half).items():
        proto.metadata_props.add(key=k, value=v)
    proto.producer_name = "yolopt"
    onnx.checker.check_model(proto)
    return proto


def _sort_nodes(graph) -> None:
    """Reorder ``graph.node`` topologically (stable), as the ONNX checker requires."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            if all(i in ready for i in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            raise ValueError(f"ONNX graph has a cycle or a dangling input at node {rest[0].name!r}")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)


def export_onnx(model: str | Path | YoloModel, out: str | Path, half: bool = False, imgsz: int | None = None,
                opset: int = OPSET) -> Path:
    """Write ``model`` as an ONNX file taking (B, 3, H, W) uint8 RGB and returning (B, 4 + nc, A) float32."""
    proto = to_onnx_proto(load_model(model), imgsz, half, opset)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(proto.SerializeToString())
    tmp.replace(out)
    return out
