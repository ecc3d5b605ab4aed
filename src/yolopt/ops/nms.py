"""Class-aware non-maximum suppression, exact greedy semantics, without a Python loop over boxes.

NumPy rather than torch: it runs single-threaded beside the inference runtime's threads, where torch's
OpenMP pool would spin against them (torch NMS was an order of magnitude slower inside the pipelined
engine than alone; figures in BENCHMARKS.md, "Why the code is the way it is").
"""

from __future__ import annotations

import numpy as np

from .boxes import box_iou, xywh2xyxy

MAX_CANDIDATES = 30000  # pre-NMS cap, as in Ultralytics


def _greedy_keep(boxes: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS over score-sorted boxes of one class, as a fixed point (Cluster-NMS).

    Box j survives iff no *surviving* higher-scored box overlaps it by more than ``iou_thres``; iterating
    that rule from "all survive" converges to exactly the sequential greedy result.
    """
    n = boxes.shape[0]
    if n <= 1:
        return np.ones(n, dtype=bool)
    over = np.triu(box_iou(boxes, boxes) > iou_thres, 1)
    keep = np.ones(n, dtype=bool)
    for _ in range(n):  # converges in (longest suppression chain) steps, usually a handful
        new = ~over[keep].any(0)
        if np.array_equal(new, keep):
            break
        keep = new
    return keep


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_thres: float) -> np.ndarray:
    """Indices of boxes kept by per-class greedy NMS, in descending score order (ties keep input order)."""
    boxes, scores, class_ids = np.asarray(boxes), np.asarray(scores), np.asarray(class_ids)
    order = np.argsort(-scores, kind="stable")
    cls_sorted = class_ids[order]
    by_class = np.argsort(cls_sorted, kind="stable")  # contiguous per class, score order inside
    grouped = order[by_class]
    starts = np.flatnonzero(np.r_[True, np.diff(cls_sorted[by_class]) != 0])
    ends = np.r_[starts[1:], len(order)]
    keep = np.zeros(len(order), dtype=bool)
    for start, end in zip(starts.tolist(), ends.tolist()):  # one step per class present, not per box
        idx = grouped[start:end]
        keep[idx] = _greedy_keep(boxes[idx], iou_thres)
    return order[keep[order]]


def postprocess(
    pred: np.ndarray,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    classes: list[int] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Raw head output (B, 4 + nc, A) → per image (boxes xyxy in input pixels, scores, class ids).

    Each image is filtered independently, so nothing about the batch changes an image's result.
    """
    out = []
    for p in np.asarray(pred, dtype=np.float32):  # per image: batch-independent by construction
        score = p[4:].max(0)
        cand = np.flatnonzero(score > conf)
        cls = p[4:, cand].argmax(0)  # first maximal class on ties, as torch.max
        if classes is not None:
            wanted = np.isin(cls, classes)
            cand, cls = cand[wanted], cls[wanted]
        boxes, score = xywh2xyxy(p[:4, cand].T), score[cand]
        if score.size > MAX_CANDIDATES:
            top = np.argsort(-score, kind="stable")[:MAX_CANDIDATES]
            boxes, score, cls = boxes[top], score[top], cls[top]
        keep = nms(boxes, score, cls, iou)[:max_det]
        out.append((boxes[keep], score[keep], cls[keep]))
    return out
