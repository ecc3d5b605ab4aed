"""The module every exporter traces: uint8 RGB in, normalised inside, fused YOLOv8 out as float32."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..model import YoloModel


class ExportGraph(nn.Module):
    """(B, 3, H, W) uint8 RGB → (B, 4 + nc, A) float32, BatchNorm folded.

    Taking uint8 and dividing by 255 in the graph keeps the host side a plain array copy (4x fewer bytes
    than float32) and makes normalisation identical to the PyTorch backend's ``x.float() / 255``.
    """

    def __init__(self, model: YoloModel):
        super().__init__()
        net = copy.deepcopy(model.net).float().eval()
        if any(hasattr(m, "bn") for m in net.modules()):
            net.fuse()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.float() / 255)


def example_input(imgsz: int, batch: int = 1) -> torch.Tensor:
    """A uint8 tracing input; its values do not matter, its shape only sets the default size."""
    return torch.full((batch, 3, imgsz, imgsz), 114, dtype=torch.uint8)


class FloatInputGraph(nn.Module):
    """:class:`ExportGraph` for runtimes whose inputs are float (NCNN blobs, CoreML images): RGB 0-255 in."""

    def __init__(self, model: YoloModel):
        super().__init__()
        self.net = ExportGraph(model).net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images / 255)
