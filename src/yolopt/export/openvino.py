"""OpenVINO IR export (.xml + .bin): dynamic batch/height/width, metadata in ``rt_info``, optional FP16 weights."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..model import YoloModel, load_model
from ..optional import require
from .onnx import to_onnx_proto

RT_INFO_KEY = "yolopt"  # metadata lives under rt_info["yolopt"][key]


def to_openvino_model(source: str | Path | YoloModel, imgsz: int | None = None, half: bool = False):
    """An ``openvino.Model`` from an ``.onnx`` file, or from a model through our ONNX graph.

    PyTorch goes through ONNX rather than OpenVINO's PyTorch frontend: same graph as the ONNX export, and
    about ten times faster to convert (BENCHMARKS.md, "Why the code is the way it is").
    """
    ov = require("openvino", "yolopt[openvino]", "OpenVINO export")
    onnx = require("onnx", "yolopt[onnx]", "OpenVINO export")
    with tempfile.TemporaryDirectory(prefix="yolopt-ov-") as tmp:
        if isinstance(source, (str, Path)) and str(source).endswith(".onnx"):
            path = Path(source)
        else:
            path = Path(tmp) / "model.onnx"
            onnx.save(to_onnx_proto(load_model(source), imgsz), str(path))
        om = ov.convert_model(str(path))
        meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    meta["precision"] = "fp16" if half else meta.get("precision", "fp32")
    om.inputs[0].get_tensor().set_names({"images"})
    om.outputs[0].get_tensor().set_names({"output"})
    for k, v in meta.items():
        om.set_rt_info(v, [RT_INFO_KEY, k])
    return om


def export_openvino(source: str | Path | YoloModel, out: str | Path, half: bool = False,
                    imgsz: int | None = None) -> Path:
    """Write OpenVINO IR ``out`` (.xml, with its .bin beside it); ``half`` stores the weights as FP16."""
    ov = require("openvino", "yolopt[openvino]", "OpenVINO export")
    out = Path(out)
    if out.suffix != ".xml":
        out = out / "model.xml" if out.suffix == "" else out.with_suffix(".xml")
    om = to_openvino_model(source, imgsz, half)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".ov-") as tmp:
        ov.save_model(om, str(Path(tmp) / out.name), compress_to_fp16=half)  # its default would be FP16
        for suffix in (".bin", ".xml"):  # the .xml last: it is what readers open
            (Path(tmp) / out.name).with_suffix(suffix).replace(out.with_suffix(suffix))
    return out
