"""Class-aware non-maximum suppression, exact greedy semantics, without a Python loop over boxes."""

from __future__ import annotations

import torch

from .boxes import box_iou, xywh2xyxy

MAX_CANDIDATES = 30000  # pre-NMS cap, as in Ultralytics


def _greedy_keep(boxes: torch.Tensor, iou_thres: float) -> torch.Tensor:
    """Greedy NMS over score-sorted boxes of one class, as a fixed point (Cluster-NMS).

    Box j survives iff no *surviving* higher-scored box overlaps it by more than ``iou_thres``; iterating
    that rule from "all survive" converges to exactly the sequential greedy result.
    """
    n = boxes.shape[0]
    if n <= 1:
        return torch.ones(n, dtype=torch.bool, device=boxes.device)
    over = box_iou(boxes, boxes).triu_(1) > iou_thres
    keep = torch.ones(n, dtype=torch.bool, device=boxes.device)
    for _ in range(n):  # converges in (longest suppression chain) steps, usually a handful
        new = ~(over & keep[:, None]).any(0)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def nms(boxes: torch.Tensor, scores: torch.Tensor, class_ids: torch.Tensor, iou_thres: float) -> torch.Tensor:
    """Indices of boxes kept by per-class greedy NMS, in descending score order (ties keep input order)."""
    order = torch.argsort(scores, descending=True, stable=True)
    cls_sorted = class_ids[order]
    by_class = torch.argsort(cls_sorted, stable=True)  # contiguous per class, score order inside
    grouped = order[by_class]
    counts = torch.unique_consecutive(cls_sorted[by_class], return_counts=True)[1].tolist()
    keep = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)
    start = 0
    for count in counts:  # one step per class present, not per box
        idx = grouped[start : start + count]
        keep[idx] = _greedy_keep(boxes[idx], iou_thres)
        start += count
    return order[keep[order]]


def postprocess(
    pred: torch.Tensor,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: list[int] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Raw head output (B, 4 + nc, A) → per image (boxes xyxy in input pixels, scores, class ids).

    Each image is filtered independently, so nothing about the batch changes an image's result.
    """
    out = []
    for p in pred:  # per image: batch-independent by construction
        p = p.transpose(0, 1)  # (A, 4 + nc)
        score, cls = p[:, 4:].max(1)
        mask = score > conf
        if classes is not None:
            mask &= torch.isin(cls, torch.as_tensor(classes, device=cls.device))
        boxes, score, cls = xywh2xyxy(p[mask, :4]), score[mask], cls[mask]
        if score.numel() > MAX_CANDIDATES:
            top = torch.topk(score, MAX_CANDIDATES).indices
            boxes, score, cls = boxes[top], score[top], cls[top]
        keep = nms(boxes, score, cls, iou)[:max_det]
        out.append((boxes[keep], score[keep], cls[keep]))
    return out
