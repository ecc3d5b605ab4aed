"""TensorRT engine export (.engine) from our ONNX graph, with the metadata as a JSON header before the plan."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from ..model import YoloModel, load_model
from ..optional import require
from .metadata import export_metadata
from .onnx import to_onnx_proto


def require_tensorrt():
    """The ``tensorrt`` module, after checking a CUDA GPU is visible; otherwise an error saying what is missing."""
    trt = require("tensorrt", "tensorrt", "TensorRT engines (also needs an NVIDIA GPU with CUDA)")
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("TensorRT needs an NVIDIA GPU with CUDA, and PyTorch sees none "
                           "(install a CUDA build of torch: https://pytorch.org/get-started/locally/)")
    return trt


def write_engine(path: Path, plan: bytes, meta: dict[str, str]) -> Path:
    """Engine file layout: uint32 little-endian length, metadata JSON, then the serialized plan."""
    head = json.dumps(meta).encode()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(struct.pack("<I", len(head)) + head + plan)
    tmp.replace(path)
    return path


def read_engine(path: str | Path) -> tuple[dict[str, str], bytes]:
    """(metadata, serialized plan) of a file written by :func:`write_engine`."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<I", data[:4])
    try:
        meta = json.loads(data[4 : 4 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a yolopt TensorRT engine (no metadata header)") from e
    return meta, data[4 + n :]


def export_engine(source: str | Path | YoloModel, out: str | Path, half: bool = False, imgsz: int | None = None,
                  max_batch: int = 8, workspace_gb: float = 4.0, verbose: bool = False) -> Path:
    """Build a TensorRT engine for inputs (1..max_batch, 3, 32..imgsz, 32..imgsz) uint8; ``half`` allows FP16 kernels.

    Needs TensorRT ≥ 8.6 (uint8 network input) and the GPU the engine will run on: engines are not portable.
    """
    trt = require_tensorrt()
    model = load_model(source)
    imgsz = imgsz or model.imgsz
    proto = to_onnx_proto(model, imgsz)
    logger = trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    explicit = 0 if int(trt.__version__.split(".")[0]) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(explicit)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(proto.SerializeToString()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if half:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    profile.set_shape(name, (1, 3, 32, 32), (1, 3, imgsz, imgsz), (max_batch, 3, imgsz, imgsz))
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError("TensorRT engine build failed (run with verbose=True for the builder log)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = export_metadata(model, imgsz, half) | {"max_batch": str(max_batch)}
    return write_engine(out, bytes(plan), meta)
