"""CoreML export (.mlpackage, ML Program) with coremltools; on Linux the file is checked by its spec, not run.

The model takes an RGB image (CoreML ``ImageType``, what Vision/CVPixelBuffer gives an app) at the fixed
``imgsz`` square, divides by 255 inside and returns (1, 4 + nc, A) float — or final detections with ``nms``.
Metadata goes in the model's ``user_defined_metadata``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from ..model import YoloModel, load_model
from ..optional import require
from .metadata import export_metadata
from .verify import Verification

INSTALL = "yolopt[coreml]"
INPUT, OUTPUT = "images", "output"
INPUT_LAYOUT = "RGB image (CoreML ImageType, 0-255; normalised inside the graph)"
DEPLOYMENT_TARGET = "iOS16"  # ML Program with FP16/FP32 compute, weight compression (iOS 16 / macOS 13)


def _coremltools():
    return require("coremltools", INSTALL, "CoreML export")


def export_coreml(model: str | Path | YoloModel, out: str | Path, half: bool = False, imgsz: int | None = None,
                  int8: bool = False, data: str | Path | None = None, nms: dict | None = None) -> Path:
    """Write ``out`` (.mlpackage): FP32, FP16 compute and weights (``half``), or INT8 weights (``int8``).

    CoreML quantizes activations only with calibration run on a Mac; ``int8`` here is int8 weights
    (per channel) with FP16 compute, which needs no data.
    """
    ct = _coremltools()
    from .graph import FloatInputGraph
    from .nms_graph import NMSGraph

    model = load_model(model)
    imgsz = imgsz or model.imgsz
    graph = (FloatInputGraph(model) if nms is None else NMSGraph(model, **nms)).eval()
    sample = torch.full((1, 3, imgsz, imgsz), 114.0)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        # torch.export rather than TorchScript: coremltools' TorchScript path mis-reads the traced shape arithmetic
        program = torch.export.export(graph, (sample,)).run_decompositions({})
        ml = ct.convert(
            program, inputs=[ct.ImageType(name=INPUT, shape=sample.shape, scale=1.0, color_layout=ct.colorlayout.RGB)],
            outputs=[ct.TensorType(name=OUTPUT)], convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16 if half or int8 else ct.precision.FLOAT32,
            minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET))
    if int8:
        opt = ct.optimize.coreml
        ml = opt.linear_quantize_weights(ml, opt.OptimizationConfig(global_config=opt.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel")))
    meta = export_metadata(model, imgsz, half) | {"input": INPUT_LAYOUT, "shape": "static",
                                                   "precision": "int8" if int8 else "fp16" if half else "fp32"}
    if nms:
        meta["nms"] = json.dumps(nms)
    ml.user_defined_metadata.update(meta)
    ml.short_description = f"yolopt YOLOv8{model.spec.scale} detector, {model.spec.nc} classes"
    out = Path(out)
    if out.suffix != ".mlpackage":
        out = out.with_suffix(".mlpackage")
    out.parent.mkdir(parents=True, exist_ok=True)
    ml.save(str(out))
    return out


def _ops(spec) -> set[str]:
    """Op types used by an ML Program spec's main function (all its blocks)."""
    found: set[str] = set()

    def walk(block):
        for op in block.operations:
            found.add(op.type)
            for inner in op.blocks:
                walk(inner)

    for fn in spec.mlProgram.functions.values():
        for block in fn.block_specializations.values():
            walk(block)
    return found


def check_spec(path: str | Path, model: YoloModel, imgsz: int, precision: str, nms: dict | None = None) -> Verification:
    """Check a .mlpackage without running it (CoreML runs on Apple platforms only): input, output, metadata, ops.

    The op set is checked against coremltools' registry of ML Program ops for the deployment target, so a
    file that Core ML on the device would reject for an unknown op fails here.
    """
    ct = _coremltools()
    import coremltools.converters.mil  # noqa: F401 - registers the op definitions
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry

    v = Verification("coreml", precision, ran=False)
    spec = ct.utils.load_spec(str(path))
    problems = []
    desc = spec.description
    inp = desc.input[0]
    if inp.name != INPUT or inp.type.WhichOneof("Type") != "imageType":
        problems.append(f"input {inp.name!r} is not an image")
    elif (inp.type.imageType.width, inp.type.imageType.height) != (imgsz, imgsz):
        problems.append(f"input is {inp.type.imageType.width}x{inp.type.imageType.height}, not {imgsz}x{imgsz}")
    out = desc.output[0]
    shape = list(out.type.multiArrayType.shape)
    anchors = sum((imgsz // s) ** 2 for s in (8, 16, 32))
    want = [1, nms["max_det"], 6] if nms else [1, 4 + model.spec.nc, anchors]
    if out.name != OUTPUT or (shape and shape != want):
        problems.append(f"output {out.name!r} has shape {shape}, expected {want}")
    meta = dict(desc.metadata.userDefined)
    if json.loads(meta.get("names", "{}")) != {str(k): n for k, n in model.names.items()} or meta.get("imgsz") != str(imgsz):
        problems.append("metadata names/imgsz do not match the model")
    opset = getattr(ct.target, DEPLOYMENT_TARGET)
    known = {name for name, versions in SSAOpRegistry.core_ops.items() if any(t <= opset for t in versions)}
    ops = _ops(spec)
    unknown = sorted(ops - known)
    if unknown:
        problems.append(f"ops outside the {DEPLOYMENT_TARGET} ML Program op set: {unknown}")
    v.ok = not problems
    v.notes = problems or [(f"CoreML runs on Apple platforms only; spec checked: image input {imgsz}x{imgsz}, "
                            f"output {want}, metadata, {len(ops)} op types all in the {DEPLOYMENT_TARGET} op set")]
    return v
