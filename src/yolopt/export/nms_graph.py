"""An export graph that ends in box decoding and per-class NMS, for apps that run the file without Python.

Output (B, max_det, 6): x1, y1, x2, y2 in input pixels, score, class id — best first, rows past the
detections all zero. Thresholds are baked in (and recorded in the file's metadata).
"""

from __future__ import annotations

import torch
from torch import nn

from ..model import YoloModel
from .graph import ExportGraph

#: Candidates kept (by score) before NMS. yolopt's own NMS considers every box over ``conf``; the graph's
#: result equals it whenever at most this many boxes pass ``conf`` (hundreds at the usual conf 0.25).
CANDIDATES = 1000
#: Rounds of the suppression fixed point below; the greedy result is reached after as many rounds as its
#: longest suppression chain (a kept box suppressing one that would have suppressed another...), rarely over 5.
ROUNDS = 16


class NMSGraph(nn.Module):
    """(B, 3, H, W) uint8 RGB → (B, max_det, 6) final detections, by the same rules as :func:`yolopt.ops.nms.postprocess`.

    Greedy per-class NMS written as a fixed point (Cluster-NMS): box j survives iff no surviving
    higher-scored box of its class overlaps it by more than ``iou``. Classes are kept apart by shifting
    each class's boxes to its own region of the plane, so one IoU matrix serves them all.
    """

    def __init__(self, model: YoloModel, conf: float = 0.25, iou: float = 0.7, max_det: int = 300,
                 candidates: int = CANDIDATES, rounds: int = ROUNDS):
        super().__init__()
        self.graph = ExportGraph(model)
        self.conf, self.iou, self.max_det, self.candidates, self.rounds = conf, iou, max_det, candidates, rounds

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pred = self.graph(images)  # (B, 4 + nc, A)
        k = min(self.candidates, pred.shape[2])
        score, cls = pred[:, 4:].max(1)  # (B, A): best class, first one on ties
        top, idx = score.topk(k, 1)  # (B, k), best first
        xywh = torch.gather(pred[:, :4], 2, idx.unsqueeze(1).expand(-1, 4, -1)).transpose(1, 2)  # (B, k, 4)
        boxes = torch.cat((xywh[..., :2] - xywh[..., 2:] / 2, xywh[..., :2] + xywh[..., 2:] / 2), 2)
        cls = torch.gather(cls, 1, idx).float()
        valid = top > self.conf
        span = images.shape[2] + images.shape[3]  # larger than any box coordinate: classes never overlap
        shifted = boxes + (cls * span).unsqueeze(2)
        x1, y1, x2, y2 = shifted.unbind(2)
        iw = (torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None], x1[:, None, :])).clamp(min=0)
        ih = (torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None], y1[:, None, :])).clamp(min=0)
        inter = iw * ih
        area = (x2 - x1) * (y2 - y1)
        iou = inter / (area[:, :, None] + area[:, None, :] - inter)
        later = torch.ones(k, k, dtype=torch.bool, device=images.device).triu(1)  # i scored above j
        over = (iou > self.iou) & later & valid.unsqueeze(2)  # (B, i, j): i may suppress j
        keep = valid
        for _ in range(self.rounds):
            keep = valid & ~(over & keep.unsqueeze(2)).any(1)
        kept = torch.where(keep, top, torch.zeros_like(top))
        n = min(self.max_det, k)
        best, order = kept.topk(n, 1)  # kept boxes in score order; dropped ones (0) last
        rows = torch.cat((boxes, top.unsqueeze(2), cls.unsqueeze(2)), 2)
        rows = torch.gather(rows, 1, order.unsqueeze(2).expand(-1, -1, 6))
        return rows * (best > 0).unsqueeze(2).float()
