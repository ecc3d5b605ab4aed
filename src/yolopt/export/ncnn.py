"""NCNN export (.param + .bin) through pnnx, ncnn's own PyTorch converter; metadata in a .json beside them.

The graph takes (3, H, W) float RGB in 0-255 (what ``ncnn::Mat::from_pixels`` gives an app) at the fixed
``imgsz`` square, divides by 255 inside, and returns (4 + nc, A) — ncnn drops the batch axis.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import tempfile
from pathlib import Path

import torch

from ..model import YoloModel, load_model
from ..optional import require
from .graph import FloatInputGraph
from .metadata import export_metadata

INSTALL = "yolopt[ncnn]"
INPUT_LAYOUT = "float32 CHW RGB 0-255 (ncnn::Mat::from_pixels; normalised inside the graph)"
INPUT, OUTPUT = "in0", "out0"  # pnnx's blob names


def metadata_path(param: Path) -> Path:
    """Where the metadata of an NCNN model lives: ``model.param`` → ``model.json``."""
    return Path(param).with_suffix(".json")


def read_metadata(param: str | Path) -> dict[str, str]:
    """The yolopt metadata written beside an NCNN ``.param`` ({} when there is none)."""
    path = metadata_path(Path(param))
    return json.loads(path.read_text()) if path.exists() else {}


def export_ncnn(model: str | Path | YoloModel, out: str | Path, half: bool = False, imgsz: int | None = None,
                int8: bool = False, data: str | Path | None = None, nms: dict | None = None) -> Path:
    """Write ``out`` (.param, with .bin and .json beside it) for a fixed ``imgsz`` square; ``half`` stores FP16 weights."""
    if int8:
        raise ValueError("NCNN INT8 needs ncnn's ncnn2table/ncnn2int8 tools, which no pip or apt package installs "
                         "here: export NCNN FP32/FP16, or TFLite --int8")
    if nms:
        raise ValueError("NCNN --nms: pnnx cannot convert the NMS graph's top-k/gather/any ops to ncnn layers; NCNN "
                         "apps decode the raw output (4 + nc rows) in their own code, or export tflite/coreml with --nms")
    pnnx = require("pnnx", INSTALL, "NCNN export")
    model = load_model(model)
    imgsz = imgsz or model.imgsz
    out = Path(out)
    if out.suffix != ".param":
        out = out / "model.param" if out.suffix == "" else out.with_suffix(".param")
    out.parent.mkdir(parents=True, exist_ok=True)
    sample = torch.full((1, 3, imgsz, imgsz), 114.0)
    with tempfile.TemporaryDirectory(prefix="yolopt-pnnx-") as tmp:
        tmp_param, tmp_bin = Path(tmp) / "model.ncnn.param", Path(tmp) / "model.ncnn.bin"
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):  # pnnx prints every pass
                pnnx.export(FloatInputGraph(model).eval(), str(Path(tmp) / "model.pt"), inputs=sample, fp16=half,
                            ncnnparam=str(tmp_param), ncnnbin=str(tmp_bin), ncnnpy=str(Path(tmp) / "model_ncnn.py"),
                            pnnxparam=str(Path(tmp) / "model.pnnx.param"), pnnxbin=str(Path(tmp) / "model.pnnx.bin"),
                            pnnxpy=str(Path(tmp) / "model_pnnx.py"), pnnxonnx=str(Path(tmp) / "model.pnnx.onnx"))
        except (subprocess.CalledProcessError, RuntimeError) as e:
            raise RuntimeError(f"pnnx could not convert the model: {e}\n{log.getvalue()[-2000:]}") from e
        if not tmp_param.exists():
            raise RuntimeError(f"pnnx wrote no NCNN model:\n{log.getvalue()[-2000:]}")
        meta = export_metadata(model, imgsz, half) | {"input": INPUT_LAYOUT, "shape": "static",
                                                       "input_blob": INPUT, "output_blob": OUTPUT}
        tmp_bin.replace(out.with_suffix(".bin"))
        metadata_path(out).write_text(json.dumps(meta, indent=1))
        tmp_param.replace(out)  # the .param last: it is what readers open
    return out
