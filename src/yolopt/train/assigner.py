"""Task-aligned label assignment (TOOD, as used by YOLOv8): which anchors learn which ground-truth box.

Each anchor inside a box gets an alignment score ``s**alpha * iou**beta`` (``s`` the predicted score of the
box's class, ``iou`` the CIoU of the predicted box); each box keeps its ``topk`` best anchors; an anchor
claimed by several boxes goes to the one it overlaps most. Soft class targets are the alignment score
rescaled so that each box's best anchor gets that box's best IoU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

EPS = 1e-9


def ciou(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU of xyxy boxes ``a`` and ``b`` (broadcast over leading dims): IoU minus centre and aspect penalties."""
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    w1, h1 = ax2 - ax1, ay2 - ay1 + eps
    w2, h2 = bx2 - bx1, by2 - by1 + eps
    inter = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(0) * \
            (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.maximum(ax2, bx2) - torch.minimum(ax1, bx1)
    ch = torch.maximum(ay2, by2) - torch.minimum(ay1, by1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((bx1 + bx2 - ax1 - ax2).pow(2) + (by1 + by2 - ay1 - ay2).pow(2)) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


@dataclass
class Assignment:
    """Per-anchor targets: xyxy box (B, A, 4), soft class scores (B, A, nc), foreground mask (B, A)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    fg: torch.Tensor


class TaskAlignedAssigner:
    """Assign ground-truth boxes to anchors by task alignment (top-k 10, alpha 0.5, beta 6 by default)."""

    def __init__(self, nc: int, topk: int = 10, alpha: float = 0.5, beta: float = 6.0,
                 strides: tuple[float, ...] = (8.0, 16.0, 32.0)):
        self.nc, self.topk, self.alpha, self.beta = nc, topk, alpha, beta
        self.min_side = float(strides[1] if len(strides) > 1 else strides[0])

    def candidates(self, anchors: torch.Tensor, gt_boxes: torch.Tensor, gt_mask: torch.Tensor) -> torch.Tensor:
        """(B, M, A): anchor centre strictly inside the box, a box side shorter than the second stride counting as
        that long (so thin and tiny boxes still reach enough anchors), as the peer does."""
        centre = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
        wh = gt_boxes[..., 2:] - gt_boxes[..., :2]
        wh = torch.where((wh < self.min_side) & gt_mask[..., None], torch.full_like(wh, self.min_side), wh)
        boxes = torch.cat((centre - wh / 2, centre + wh / 2), -1)
        ax, ay = anchors[:, 0], anchors[:, 1]
        x1, y1, x2, y2 = (boxes[..., i, None] for i in range(4))  # (B, M, 1) each
        return (ax - x1 > EPS) & (ay - y1 > EPS) & (x2 - ax > EPS) & (y2 - ay > EPS)

    @torch.no_grad()
    def __call__(self, scores: torch.Tensor, boxes: torch.Tensor, anchors: torch.Tensor, gt_labels: torch.Tensor,
                 gt_boxes: torch.Tensor, gt_mask: torch.Tensor) -> Assignment:
        """``scores`` (B, A, nc) probabilities, ``boxes`` (B, A, 4) xyxy, ``anchors`` (A, 2) in the same units;
        ``gt_labels`` (B, M) long, ``gt_boxes`` (B, M, 4) xyxy, ``gt_mask`` (B, M) bool for real (non-padding) boxes."""
        b, a, _ = scores.shape
        m = gt_boxes.shape[1]
        if m == 0:
            return Assignment(torch.zeros_like(boxes), torch.zeros_like(scores), torch.zeros(b, a, dtype=torch.bool,
                                                                                              device=scores.device))
        inside = self.candidates(anchors, gt_boxes, gt_mask)
        valid = inside & gt_mask[:, :, None]
        # scores and CIoU only where an anchor centre is inside a box (a few % of the pairs); zero elsewhere
        bi, mi, ai = valid.nonzero(as_tuple=True)
        iou = ciou(gt_boxes[bi, mi], boxes[bi, ai]).clamp_(0)
        overlaps = torch.zeros(valid.shape, dtype=boxes.dtype, device=boxes.device)
        overlaps[bi, mi, ai] = iou
        metric = torch.zeros_like(overlaps)
        metric[bi, mi, ai] = scores[bi, ai, gt_labels[bi, mi]].pow(self.alpha) * iou.pow(self.beta)

        # each box's top-k anchors by alignment (an index picked twice only happens for padding boxes: dropped)
        top_idx = metric.topk(self.topk, dim=-1).indices
        top_idx = top_idx.masked_fill(~gt_mask[:, :, None], 0)
        count = torch.zeros_like(metric, dtype=torch.int8).scatter_add_(
            -1, top_idx, torch.ones_like(top_idx, dtype=torch.int8))
        pos = (count == 1) & valid  # (B, M, A)

        # an anchor claimed by several boxes goes to the box it overlaps most
        n_claims = pos.sum(1)  # (B, A)
        if n_claims.max() > 1:
            best = torch.zeros_like(pos).scatter_(1, overlaps.argmax(1, keepdim=True), True)
            pos = torch.where((n_claims > 1)[:, None, :], best, pos)
        fg = pos.any(1)  # (B, A)
        gt_idx = pos.to(torch.uint8).argmax(1)  # (B, A)

        labels = gt_labels.gather(1, gt_idx).clamp(0)
        t_boxes = gt_boxes.gather(1, gt_idx[..., None].expand(-1, -1, 4))
        t_scores = torch.nn.functional.one_hot(labels, self.nc).to(scores.dtype) * fg[..., None]

        metric = metric * pos
        pos_metric = metric.amax(-1, keepdim=True)  # (B, M, 1)
        pos_overlap = (overlaps * pos).amax(-1, keepdim=True)
        norm = (metric * pos_overlap / (pos_metric + EPS)).amax(1)  # (B, A)
        return Assignment(t_boxes, t_scores * norm[..., None], fg)
