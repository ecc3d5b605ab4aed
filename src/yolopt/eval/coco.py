"""COCO box metrics from pycocotools: the summary, per-class AP, the PR curve and P/R/F1 at the best-F1 confidence.

All AP and AR figures are pycocotools' own (``COCOeval`` with its default parameters: IoU .50:.05:.95,
101 recall points, area ranges, maxDets 1/10/100, crowd regions ignored). Per-class AP is the same
average ``COCOeval.summarize`` takes, restricted to one class. Precision/recall/F1 are computed from
pycocotools' own per-image matches at IoU 0.50 (area all, 100 detections per image), so detections on
crowd regions are ignored there too.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..data.coco_ids import coco_image_id, model_to_categories
from ..data.datasets import DatasetError, read_json

SUMMARY_KEYS = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large",
                "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")


@dataclass
class ClassMetrics:
    """One category's row: how many images and (non-crowd) boxes it has, AP, and P/R at the best-F1 confidence."""

    category_id: int
    name: str
    images: int
    instances: int
    ap50_95: float | None
    ap50: float | None
    ap75: float | None
    precision: float | None
    recall: float | None


@dataclass
class CocoMetrics:
    """COCO summary (``COCOeval.stats`` by name), per-class rows, and the best-F1 operating point."""

    map50_95: float
    map50: float
    map75: float
    map_small: float
    map_medium: float
    map_large: float
    ar1: float
    ar10: float
    ar100: float
    ar_small: float
    ar_medium: float
    ar_large: float
    precision: float  # mean over classes with ground truth, at ``best_conf``
    recall: float
    f1: float
    best_conf: float
    images: int
    instances: int
    detections: int
    per_class: list[ClassMetrics] = field(default_factory=list)
    pr_recall: np.ndarray | None = field(default=None, repr=False)  # (101,) recall thresholds
    pr_precision: np.ndarray | None = field(default=None, repr=False)  # (10 IoUs, 101, K) interpolated precision
    f1_curve: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # (conf, mean F1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the summary, the operating point and the per-class table (NaN as null)."""
        d = {k: v for k, v in asdict(self).items() if k not in ("pr_recall", "pr_precision", "f1_curve")}
        return _nan_to_none(d)


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, 6)
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x


def _coco_api() -> tuple[Any, Any]:
    from ..optional import require

    coco = require("pycocotools.coco", "yolopt[eval]", "COCO evaluation")
    return coco.COCO, require("pycocotools.cocoeval", "yolopt[eval]", "COCO evaluation").COCOeval


def evaluate(gt: dict | str | Path, predictions: list[dict], img_ids: list[int] | None = None) -> CocoMetrics:
    """Score COCO-format box predictions against COCO ground truth with pycocotools.

    ``img_ids`` restricts scoring to those images (default: every ground-truth image). Predictions must
    use the ground truth's image and category ids.
    """
    COCO, COCOeval = _coco_api()
    gt_dict = read_json(gt) if isinstance(gt, (str, Path)) else gt
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
        coco_dt = _load_results(COCO, coco_gt, predictions)
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        if img_ids is not None:
            ev.params.imgIds = sorted(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return _metrics(ev, coco_gt, len(predictions))


def _load_results(COCO: Any, coco_gt: Any, predictions: list[dict]) -> Any:
    """The detections as a COCO object (pycocotools' ``loadRes``, which cannot take an empty list)."""
    if predictions:
        return coco_gt.loadRes([dict(p) for p in predictions])  # loadRes adds keys: leave the caller's dicts alone
    dt = COCO()
    dt.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                  "annotations": []}
    dt.createIndex()
    return dt


def _metrics(ev: Any, coco_gt: Any, n_dets: int) -> CocoMetrics:
    p = ev.params
    prec = ev.eval["precision"][:, :, :, 0, -1]  # (T, R, K) area all, maxDets 100
    i50, i75 = int(np.argmin(np.abs(p.iouThrs - 0.5))), int(np.argmin(np.abs(p.iouThrs - 0.75)))
    conf, pk, rk, f1_curve = _best_f1(ev)
    images, instances = _gt_counts(coco_gt, p.imgIds, p.catIds)
    rows = []
    for k, cid in enumerate(p.catIds):
        rows.append(ClassMetrics(
            int(cid), str(coco_gt.cats[cid].get("name", cid)), images=int(images[k]), instances=int(instances[k]),
            ap50_95=_mean_valid(prec[:, :, k]), ap50=_mean_valid(prec[i50, :, k]), ap75=_mean_valid(prec[i75, :, k]),
            precision=pk.get(cid), recall=rk.get(cid)))
    stats = [float(s) for s in ev.stats]
    return CocoMetrics(
        *stats, precision=_mean([pk[c] for c in pk]), recall=_mean([rk[c] for c in rk]),
        f1=float(f1_curve[1].max()) if len(f1_curve[1]) else 0.0, best_conf=conf,
        images=len(p.imgIds), instances=sum(r.instances for r in rows), detections=n_dets, per_class=rows,
        pr_recall=np.asarray(p.recThrs), pr_precision=ev.eval["precision"][:, :, :, 0, -1].copy(), f1_curve=f1_curve)


def _gt_counts(coco_gt: Any, img_ids: list[int], cat_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per category: images holding it and non-crowd boxes, over the scored images."""
    anns = [a for i in img_ids for a in coco_gt.imgToAnns.get(i, [])]
    img = np.asarray([a["image_id"] for a in anns], np.int64)
    cat = np.asarray([a["category_id"] for a in anns], np.int64)
    crowd = np.asarray([bool(a.get("iscrowd", 0)) for a in anns], bool)
    k = np.searchsorted(np.asarray(cat_ids), cat)  # catIds are sorted by COCOeval
    instances = np.bincount(k[~crowd], minlength=len(cat_ids))
    pairs = np.unique(np.stack([k, img], 1), axis=0) if len(anns) else np.zeros((0, 2), np.int64)
    images = np.bincount(pairs[:, 0], minlength=len(cat_ids))
    return images, instances


def _mean_valid(a: np.ndarray) -> float:
    """COCOeval.summarize's average: the mean over entries that exist (> -1), NaN when none do."""
    v = a[a > -1]
    return float(v.mean()) if v.size else float("nan")


def _mean(v: list[float]) -> float:
    return float(np.mean(v)) if v else float("nan")


def _best_f1(ev: Any) -> tuple[float, dict[int, float], dict[int, float], tuple[np.ndarray, np.ndarray]]:
    """The confidence where the class-mean F1 at IoU 0.50 peaks, and each class's P and R there.

    Uses pycocotools' matches (``evalImgs``: area all, maxDets 100); detections it ignores (on crowd
    regions) are left out, as in AP. Precision is 1 where a class has no detection above the threshold.
    """
    p = ev.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    per_cat: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
    for k, cid in enumerate(p.catIds):
        block = ev.evalImgs[k * n_area * n_img: k * n_area * n_img + n_img]  # area 'all' comes first
        es = [e for e in block if e is not None]
        npos = sum(int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0)) for e in es)
        if npos == 0:
            continue
        scores = np.concatenate([np.asarray(e["dtScores"], np.float64) for e in es] + [np.zeros(0)])
        tp = np.concatenate([e["dtMatches"][0] > 0 for e in es] + [np.zeros(0, bool)])
        ign = np.concatenate([e["dtIgnore"][0].astype(bool) for e in es] + [np.zeros(0, bool)])
        scores, tp = scores[~ign], tp[~ign]
        order = np.argsort(-scores, kind="mergesort")
        per_cat[cid] = (scores[order], np.cumsum(tp[order]), npos)
    if not per_cat:
        return 0.0, {}, {}, (np.zeros(0), np.zeros(0))
    thr = np.unique(np.concatenate([s for s, _, _ in per_cat.values()] + [np.zeros(1)]))  # ascending
    f1_sum = np.zeros(len(thr))
    for s, cum, npos in per_cat.values():
        f1_sum += _prf(s, cum, npos, thr)[2]
    f1 = f1_sum / len(per_cat)
    best = int(np.argmax(f1))  # ties: the lowest threshold (most recall)
    t = thr[best:best + 1]
    pk = {cid: float(_prf(s, cum, npos, t)[0][0]) for cid, (s, cum, npos) in per_cat.items()}
    rk = {cid: float(_prf(s, cum, npos, t)[1][0]) for cid, (s, cum, npos) in per_cat.items()}
    return float(thr[best]), pk, rk, (thr, f1)


def _prf(scores_desc: np.ndarray, cum_tp: np.ndarray, npos: int,
         thr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 of one class when keeping detections with score >= each threshold."""
    n = np.searchsorted(-scores_desc, -thr, side="right")  # detections at or above each threshold
    tp = np.where(n > 0, cum_tp[np.maximum(n - 1, 0)] if len(cum_tp) else 0, 0).astype(np.float64)
    prec = np.where(n > 0, tp / np.maximum(n, 1), 1.0)
    rec = tp / npos
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
    return prec, rec, f1


def load_predictions(path: str | Path, gt: dict | None = None) -> tuple[list[dict], list[str]]:
    """Read a COCO results file (.json or .json.gz); with ``gt``, drop entries for unknown images/categories.

    Returns the predictions and warnings about what was dropped; a malformed file raises DatasetError.
    """
    preds = read_json(path)
    if not isinstance(preds, list):
        raise DatasetError(f"{path}: expected a COCO results list [{{image_id, category_id, bbox, score}}, ...]")
    for i, d in enumerate(preds):
        if not (isinstance(d, dict) and "image_id" in d and "category_id" in d and "score" in d
                and isinstance(d.get("bbox"), list) and len(d["bbox"]) == 4):
            raise DatasetError(f"{path}: entry {i} is not {{image_id, category_id, bbox: [x, y, w, h], score}}: "
                               f"{d!r:.200}")
    warnings: list[str] = []
    if gt is not None:
        imgs = {im["id"] for im in gt["images"]}
        cats = {c["id"] for c in gt["categories"]}
        bad_img = sorted({d["image_id"] for d in preds} - imgs)
        bad_cat = sorted({d["category_id"] for d in preds} - cats)
        if bad_img or bad_cat:
            n0 = len(preds)
            preds = [d for d in preds if d["image_id"] in imgs and d["category_id"] in cats]
            what = []
            if bad_img:
                what.append(f"image ids not in the ground truth ({', '.join(map(str, bad_img[:5]))}"
                            f"{', ...' if len(bad_img) > 5 else ''})")
            if bad_cat:
                what.append(f"category ids not in the ground truth ({', '.join(map(str, bad_cat[:5]))})")
            warnings.append(f"{path}: {n0 - len(preds)} predictions dropped: " + " and ".join(what))
    return preds, warnings


def make_scorer(annotations: str | Path) -> Callable[[list], tuple[float, float]]:
    """A function scoring Detections (images named by COCO id) against an instances JSON: (mAP50-95, mAP50)."""
    gt = read_json(annotations)
    known = {im["id"] for im in gt["images"]}
    cats = {int(c["id"]): str(c["name"]) for c in gt["categories"]}

    def score(dets: list) -> tuple[float, float]:
        ids = [coco_image_id(d.source, -1) for d in dets]
        names = next((d.names for d in dets if d.names), {})
        cat_of = model_to_categories(names, cats)
        preds = [r for d, i in zip(dets, ids) if i in known for r in d.to_coco(i, cat_of)]
        m = evaluate(gt, preds, img_ids=sorted({i for d, i in zip(dets, ids) if i in known and d.ok}))
        return round(m.map50_95, 4), round(m.map50, 4)

    return score
