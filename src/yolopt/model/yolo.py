"""YOLOv8 detection network for scales n/s/m/l/x and any class count, indexed like Ultralytics' ``model.N``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .blocks import C2f, SPPF, Concat, Conv, Upsample
from .head import Detect

#: (depth multiple, width multiple, max channels) per scale, as in Ultralytics' yolov8.yaml.
SCALES: dict[str, tuple[float, float, int]] = {
    "n": (0.33, 0.25, 1024),
    "s": (0.33, 0.50, 1024),
    "m": (0.67, 0.75, 768),
    "l": (1.00, 1.00, 512),
    "x": (1.00, 1.25, 512),
}


@dataclass(frozen=True)
class ModelSpec:
    """What defines a YOLOv8 detector's architecture."""

    scale: str = "n"
    nc: int = 80


def _ch(c: int, width: float, max_ch: int) -> int:
    return int(math.ceil(min(c, max_ch) * width / 8) * 8)


def _depth(n: int, depth: float) -> int:
    return max(round(n * depth), 1)


class YOLOv8(nn.Module):
    """YOLOv8 detector. ``forward`` takes (B, 3, H, W) float RGB in [0, 1], H and W multiples of 32.

    Eval mode returns decoded boxes and scores (B, 4 + nc, A); training mode the head's raw (DFL, class) logits.
    """

    def __init__(self, spec: ModelSpec = ModelSpec()):
        super().__init__()
        if spec.scale not in SCALES:
            raise ValueError(f"unknown YOLOv8 scale {spec.scale!r}; expected one of {sorted(SCALES)}")
        if spec.nc < 1:
            raise ValueError(f"number of classes must be >= 1, got {spec.nc}")
        self.spec = spec
        d, w, mc = SCALES[spec.scale]
        c = [_ch(x, w, mc) for x in (64, 128, 256, 512, 1024)]  # P1..P5 widths
        layers: list[nn.Module] = [
            Conv(3, c[0], 3, 2),  # 0 P1/2
            Conv(c[0], c[1], 3, 2),  # 1 P2/4
            C2f(c[1], c[1], _depth(3, d), True),  # 2
            Conv(c[1], c[2], 3, 2),  # 3 P3/8
            C2f(c[2], c[2], _depth(6, d), True),  # 4
            Conv(c[2], c[3], 3, 2),  # 5 P4/16
            C2f(c[3], c[3], _depth(6, d), True),  # 6
            Conv(c[3], c[4], 3, 2),  # 7 P5/32
            C2f(c[4], c[4], _depth(3, d), True),  # 8
            SPPF(c[4], c[4], 5),  # 9
            Upsample(),  # 10
            Concat(),  # 11 cat(10, 6)
            C2f(c[4] + c[3], c[3], _depth(3, d)),  # 12
            Upsample(),  # 13
            Concat(),  # 14 cat(13, 4)
            C2f(c[3] + c[2], c[2], _depth(3, d)),  # 15 P3 out
            Conv(c[2], c[2], 3, 2),  # 16
            Concat(),  # 17 cat(16, 12)
            C2f(c[2] + c[3], c[3], _depth(3, d)),  # 18 P4 out
            Conv(c[3], c[3], 3, 2),  # 19
            Concat(),  # 20 cat(19, 9)
            C2f(c[3] + c[4], c[4], _depth(3, d)),  # 21 P5 out
            Detect(spec.nc, (c[2], c[3], c[4])),  # 22
        ]
        self.model = nn.Sequential(*layers)
        self.stride = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        x = m[1](m[0](x))
        x = m[2](x)
        p3 = m[4](m[3](x))
        p4 = m[6](m[5](p3))
        p5 = m[9](m[8](m[7](p4)))
        h12 = m[12](m[11]([m[10](p5), p4]))
        h15 = m[15](m[14]([m[13](h12), p3]))
        h18 = m[18](m[17]([m[16](h15), h12]))
        h21 = m[21](m[20]([m[19](h18), p5]))
        return m[22]([h15, h18, h21])

    def fuse(self) -> "YOLOv8":
        """Fold every BatchNorm into its convolution, in place; returns self (eval mode)."""
        self.eval()
        for mod in self.modules():
            if isinstance(mod, Conv) and hasattr(mod, "bn"):
                mod.fuse()
        return self
