"""The YOLOv8 detection head: per-level box (DFL) and class branches, decoded to pixels."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import Conv


class DFL(nn.Module):
    """Distribution focal loss integral: expected value of a softmax over ``c1`` bins."""

    def __init__(self, c1: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float32).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


def make_anchors(feats: list[torch.Tensor], strides: list[float], offset: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres (A, 2) in feature-grid units and their strides (A, 1), from the feature shapes.

    Computed from each call's shapes, so any input size divisible by 32 works (and exports trace it).
    """
    points, stride_t = [], []
    for f, s in zip(feats, strides):
        h, w = f.shape[2], f.shape[3]
        sx = torch.arange(w, device=f.device, dtype=f.dtype) + offset
        sy = torch.arange(h, device=f.device, dtype=f.dtype) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), -1).view(-1, 2))
        stride_t.append(torch.full((h * w, 1), s, dtype=f.dtype, device=f.device))
    return torch.cat(points), torch.cat(stride_t)


class Detect(nn.Module):
    """Anchor-free decoupled head. Output (B, 4 + nc, A): cx, cy, w, h in input pixels, then class scores.

    In training mode it returns the raw outputs the loss needs instead: DFL logits (B, 4 * reg_max, A) and
    class logits (B, nc, A), anchors ordered stride 8, 16, 32, each level row-major.
    """

    def __init__(self, nc: int, ch: tuple[int, ...], strides: tuple[float, ...] = (8.0, 16.0, 32.0)):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = 16
        self.no = nc + self.reg_max * 4
        self.register_buffer("stride", torch.tensor(strides, dtype=torch.float32), persistent=False)
        self.level_strides = tuple(float(s) for s in strides)  # Python floats: graph exporters (torch.export) need constants
        c2 = max(16, ch[0] // 4, self.reg_max * 4)
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for x in ch
        )
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(self.reg_max)
        self.decode_dtype: torch.dtype | None = None  # e.g. float32 under a bf16 network: boxes keep full precision

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        b = xs[0].shape[0]
        if self.training:
            box = torch.cat([self.cv2[i](x).flatten(2) for i, x in enumerate(xs)], 2)
            cls = torch.cat([self.cv3[i](x).flatten(2) for i, x in enumerate(xs)], 2)
            return box, cls
        feats = [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]
        anchors, strides = make_anchors(feats, list(self.level_strides))
        y = torch.cat([f.view(b, self.no, -1) for f in feats], 2)
        if self.decode_dtype is not None:
            y, anchors, strides = y.to(self.decode_dtype), anchors.to(self.decode_dtype), strides.to(self.decode_dtype)
        box, cls = y.split((self.reg_max * 4, self.nc), 1)
        dist = self.dfl(box)
        lt, rb = dist.chunk(2, 1)
        anchors_t = anchors.transpose(0, 1).unsqueeze(0)
        x1y1 = anchors_t - lt
        x2y2 = anchors_t + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides.transpose(0, 1)
        return torch.cat((xywh, cls.sigmoid()), 1)
