"""Prepare a network for training: YOLOv8's head bias initialisation and a new class count."""

from __future__ import annotations

import math

import torch

from .head import Detect
from .io import YoloModel
from .yolo import ModelSpec, YOLOv8


@torch.no_grad()
def init_head_biases(head: Detect, imgsz: int = 640, box: bool = True) -> None:
    """Box logits start at 1; class logits at the prior of ~5 objects per image spread over nc classes per level."""
    for s, reg, cls in zip(head.stride.tolist(), head.cv2, head.cv3):
        if box:
            reg[-1].bias.fill_(1.0)
        cls[-1].bias.fill_(math.log(5 / head.nc / (imgsz / s) ** 2))


def fresh(scale: str, names: dict[int, str], imgsz: int = 640) -> YoloModel:
    """A randomly initialised YOLOv8 of ``scale`` for ``names`` (BN and head biases as YOLOv8 initialises them)."""
    net = YOLOv8(ModelSpec(scale, len(names)))
    init_head_biases(net.model[-1], imgsz)
    return YoloModel(net, names, imgsz, {"init": "random"})


def with_classes(model: YoloModel, names: dict[int, str]) -> tuple[YoloModel, list[str]]:
    """``model`` re-headed for ``names`` when the class count differs: every weight whose shape still fits is kept,
    the class branch's layers that depend on nc are re-initialised. Returns the model and the re-initialised names."""
    if len(names) == model.spec.nc:
        return YoloModel(model.net, names, model.imgsz, dict(model.meta)), []
    net = YOLOv8(ModelSpec(model.spec.scale, len(names)))
    old = model.net.state_dict()
    new = net.state_dict()
    keep = {k: v for k, v in old.items() if k in new and new[k].shape == v.shape}
    net.load_state_dict(keep, strict=False)
    head = net.model[-1]
    init_head_biases(head, model.imgsz, box=False)
    reinit = sorted({k.rsplit(".", 1)[0] for k in new if k not in keep and "num_batches_tracked" not in k})
    return YoloModel(net, names, model.imgsz, dict(model.meta)), reinit
