"""yolopt's own model format: one ``.safetensors`` file, architecture and class names in its JSON header."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .shapes import apply_channels, conv_channels
from .yolo import YOLOv8, ModelSpec

FORMAT = "yolopt.yolov8.v1"


@dataclass
class YoloModel:
    """A YOLOv8 network with what is needed to use it: class names, stride, default image size."""

    net: YOLOv8
    names: dict[int, str]
    imgsz: int = 640
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ModelSpec:
        return self.net.spec

    @property
    def stride(self) -> int:
        return self.net.stride


def build(scale: str, names: dict[int, str], state_dict: dict[str, torch.Tensor] | None = None, **kw: Any) -> YoloModel:
    """Construct the network for ``scale`` and ``len(names)`` classes, optionally loading weights."""
    net = YOLOv8(ModelSpec(scale, len(names)))
    if state_dict is not None:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()})
    return YoloModel(net.eval(), names, **kw)


def save_yolopt(model: YoloModel, path: str | Path, half: bool = True) -> Path:
    """Write ``model`` as safetensors (FP16 by default, the precision checkpoints ship in) plus metadata."""
    path = Path(path)
    sd = {k: v.detach().contiguous() for k, v in model.net.state_dict().items() if "num_batches_tracked" not in k}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    meta = {
        "format": FORMAT,
        "scale": model.spec.scale,
        "nc": str(model.spec.nc),
        "names": json.dumps({str(k): v for k, v in model.names.items()}),
        "stride": str(model.stride),
        "imgsz": str(model.imgsz),
        "meta": json.dumps(model.meta),
        "channels": json.dumps(conv_channels(model.net)),  # [out, in] per conv: how a pruned model is rebuilt
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(sd, str(tmp), metadata=meta)
    tmp.replace(path)
    return path


def load_yolopt(path: str | Path) -> YoloModel:
    """Read a model written by :func:`save_yolopt`."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a yolopt model file (format={meta.get('format')!r}, expected {FORMAT!r})")
        sd = {k: f.get_tensor(k) for k in f.keys()}
    names = {int(k): v for k, v in json.loads(meta["names"]).items()}
    if len(names) != int(meta["nc"]):
        raise ValueError(f"{path}: {len(names)} class names for nc={meta['nc']}")
    net = YOLOv8(ModelSpec(meta["scale"], len(names)))
    try:
        if "channels" in meta:
            channels = json.loads(meta["channels"])
            bad = [k for k, oi in channels.items()  # checked before any layer is built at the size the map asks
                   if f"{k}.weight" not in sd or list(sd[f"{k}.weight"].shape[:2]) != list(oi)]
            if bad:
                raise ValueError(f"layers {bad[:3]} disagree with their weight tensors")
            apply_channels(net, channels)
        missing, unexpected = net.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    except (ValueError, RuntimeError) as e:  # a channel map or tensor shapes that do not fit the architecture
        raise ValueError(f"{path}: weights do not fit YOLOv8{meta['scale']} with its channel map: {e}") from e
    missing = [k for k in missing if "num_batches_tracked" not in k]
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not fit YOLOv8{meta['scale']} (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return YoloModel(net.eval(), names, int(meta.get("imgsz", 640)), json.loads(meta.get("meta", "{}")))
