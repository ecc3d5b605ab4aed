"""The detection confusion matrix: which true class each confident detection matched, and what was missed.

Ultralytics' convention: detections at or above ``conf`` are matched one-to-one to ground-truth boxes of any
class with IoU above ``iou``, best IoU first. Rows are the true class, columns the predicted class; the last
row counts false detections (matched nothing), the last column missed boxes. Crowd regions are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ops.boxes import box_iou


@dataclass
class ConfusionMatrix:
    """Counts ``(K + 1, K + 1)`` over ``category_ids`` (index K: background), at the given thresholds."""

    counts: np.ndarray
    category_ids: list[int]
    names: list[str]
    conf: float
    iou: float


def _arrays(records: list[dict], cat_index: dict[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image ids, class indices, xyxy boxes) of COCO records whose category is known."""
    keep = [r for r in records if r["category_id"] in cat_index]
    img = np.asarray([r["image_id"] for r in keep], np.int64)
    cls = np.asarray([cat_index[r["category_id"]] for r in keep], np.int64)
    xywh = np.asarray([r["bbox"] for r in keep], np.float64).reshape(-1, 4)
    return img, cls, np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1)


def _by_image(img: np.ndarray) -> dict[int, np.ndarray]:
    """Image id -> indices of its rows (one sort, no per-box loop)."""
    order = np.argsort(img, kind="stable")
    ids, starts = np.unique(img[order], return_index=True)
    return dict(zip(ids.tolist(), np.split(order, starts[1:])))


def confusion_matrix(gt: dict, predictions: list[dict], img_ids: list[int] | None = None, conf: float = 0.25,
                     iou: float = 0.45) -> ConfusionMatrix:
    """The confusion matrix of COCO-format ``predictions`` against COCO ground truth ``gt`` (over ``img_ids``)."""
    cats = sorted(gt["categories"], key=lambda c: c["id"])
    cat_ids = [int(c["id"]) for c in cats]
    cat_index = {c: i for i, c in enumerate(cat_ids)}
    k = len(cat_ids)
    g_img, g_cls, g_box = _arrays([a for a in gt["annotations"] if not a.get("iscrowd", 0)], cat_index)
    p_img, p_cls, p_box = _arrays([p for p in predictions if p["score"] >= conf], cat_index)
    wanted = set(img_ids) if img_ids is not None else {int(im["id"]) for im in gt["images"]}
    g_of, p_of = _by_image(g_img), _by_image(p_img)
    counts = np.zeros((k + 1, k + 1), np.int64)
    empty = np.zeros(0, np.int64)
    for image in wanted:
        gi, pi = g_of.get(image, empty), p_of.get(image, empty)
        gt_hit, pred_hit = np.zeros(len(gi), bool), np.zeros(len(pi), bool)
        if len(gi) and len(pi):
            with np.errstate(invalid="ignore", divide="ignore"):
                m = box_iou(g_box[gi], p_box[pi])
            a, b = np.nonzero(m > iou)
            order = np.argsort(-m[a, b], kind="stable")
            a, b = a[order], b[order]
            _, first = np.unique(b, return_index=True)  # each detection's best box
            a, b = a[first], b[first]
            order = np.argsort(-m[a, b], kind="stable")
            a, b = a[order], b[order]
            _, first = np.unique(a, return_index=True)  # each box's best remaining detection
            a, b = a[first], b[first]
            np.add.at(counts, (g_cls[gi[a]], p_cls[pi[b]]), 1)
            gt_hit[a], pred_hit[b] = True, True
        np.add.at(counts, (g_cls[gi[~gt_hit]], k), 1)
        np.add.at(counts, (k, p_cls[pi[~pred_hit]]), 1)
    return ConfusionMatrix(counts, cat_ids, [str(c.get("name", c["id"])) for c in cats], conf, iou)
