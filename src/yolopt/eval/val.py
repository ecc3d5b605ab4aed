"""``val``: run a model over a COCO or YOLO dataset (or take saved detections) and score them COCO-style."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


from ..data.coco_ids import model_to_categories
from ..engine.timing import StageTimes
from ..data.datasets import Dataset, DatasetError, ImageRecord, load_dataset
from .coco import CocoMetrics, evaluate, load_predictions

# COCO evaluation practice: keep nearly everything, the scorer takes each image's best 100 per class.
VAL_CONF, VAL_IOU, VAL_MAX_DET = 0.001, 0.7, 300


@dataclass
class ValResult:
    """Metrics of one evaluation and everything needed to report or reproduce it."""

    metrics: CocoMetrics
    dataset: Dataset
    predictions: list[dict]  # COCO results, exactly what was scored
    config: dict[str, Any]
    speed_ms: dict[str, float] = field(default_factory=dict)  # per image: decode, preprocess, inference, postprocess
    wall_s: float = 0.0
    predict_s: float = 0.0
    scoring_s: float = 0.0
    skipped: list[str] = field(default_factory=list)  # images left out of scoring, with why
    warnings: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    ground_truth: dict | None = field(default=None, repr=False)  # the COCO ground truth scored against
    scored_ids: list[int] | None = None  # images scored (None: every ground-truth image)


@dataclass
class Predicted:
    """A model's COCO-format detections over a dataset, the decoded image sizes and the images that failed."""

    records: list[dict]
    sizes: dict[int, tuple[int, int]]
    failed: list[tuple[ImageRecord, str]]


def class_map(ds: Dataset, model_names: dict[int, str], warnings: list[str]) -> dict[int, int]:
    """Which dataset category each model class predicts; DatasetError when ground truth has classes the model lacks.

    YOLO datasets share the model's class indices (Ultralytics' convention); COCO categories are matched by name.
    """
    nc = len(model_names)
    if ds.kind == "yolo":
        assert ds.labels is not None and ds.label_files is not None
        for lab, lf in zip(ds.labels, ds.label_files):
            if len(lab) and lab[:, 0].max() >= nc:
                raise DatasetError(f"{lf}: class {int(lab[:, 0].max())} is beyond the model's {nc} classes "
                                   f"(0..{nc - 1})")
        differ = [k for k in range(min(nc, len(ds.names))) if model_names.get(k, "").lower() != ds.names[k].lower()]
        if differ:
            k = differ[0]
            warnings.append(f"{ds.source}: {len(differ)} class names differ from the model's "
                            f"(class {k}: {ds.names[k]!r} in the dataset, {model_names.get(k)!r} in the model)")
        return {k: ds.category_ids[k] for k in range(min(nc, len(ds.names)))}
    cats = ds.categories
    mapping = model_to_categories(model_names, cats)
    used = {a["category_id"] for a in ds.coco["annotations"]} if ds.coco else set()
    lacking = sorted(used - set(mapping.values()))
    if lacking:
        listed = ", ".join(f"{cats[c]!r}" for c in lacking[:4]) + (", ..." if len(lacking) > 4 else "")
        theirs = ", ".join(repr(n) for n in list(model_names.values())[:4]) + (", ..." if nc > 4 else "")
        raise DatasetError(f"{ds.source}: class names differ: {len(lacking)} annotated categories ({listed}) have no "
                           f"class of that name among the model's {nc} ({theirs}); classes are matched by name")
    return mapping


def predict_dataset(ds: Dataset, detector: Any, cat_of_class: dict[int, int], batch: int | None = None,
                    progress: Callable[[int, int], None] | None = None, times: StageTimes | None = None) -> Predicted:
    """Run ``detector`` over the dataset's images (in order) and collect COCO-format results (``times``: per stage)."""
    records: list[dict] = []
    sizes: dict[int, tuple[int, int]] = {}
    failed: list[tuple[ImageRecord, str]] = []
    for n, (rec, det) in enumerate(zip(ds.images, detector.predict([r.path for r in ds.images], batch=batch, times=times)), 1):
        if det.error is not None:
            failed.append((rec, det.error))
        else:
            sizes[rec.id] = tuple(det.shape)  # type: ignore[assignment]
            records += det.to_coco(rec.id, cat_of_class)
        if progress:
            progress(n, len(ds.images))
    return Predicted(records, sizes, failed)


def val(
    data: str | Path,
    model: str | Path | None = None,
    *,
    predictions: str | Path | None = None,
    split: str = "val",
    images: str | Path | None = None,
    batch: int = 8,
    conf: float = VAL_CONF,
    iou: float = VAL_IOU,
    max_det: int = VAL_MAX_DET,
    imgsz: int = 640,
    backend: str = "auto",
    workers: int | None = None,
    precision: str | None = None,
    save_dir: str | Path | None = None,
    plots: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ValResult:
    """COCO mAP of ``model`` on a dataset, or of saved COCO-format ``predictions`` (no model run).

    ``data`` is a COCO dataset (folder with ``annotations/instances_*.json`` and images, or the JSON itself
    with ``images``) or a YOLO dataset (``data.yaml`` or its folder; ``split`` picks the image set).
    Writes ``metrics.json``, ``predictions.json`` and ``pr_curve.png`` to ``save_dir`` when given;
    ``progress(done, total)`` is called after each image.
    """
    t0 = time.perf_counter()
    ds = load_dataset(data, split, images, need_images=predictions is None)
    warnings = list(ds.warnings)
    skipped = [f"{m.file_name}: image file not found" for m in ds.missing]
    speed: dict[str, float] = {}
    predict_s = 0.0
    config: dict[str, Any] = {"data": str(data), "format": ds.kind, "split": split if ds.kind == "yolo" else None}
    if predictions is not None:
        gt = ds.ground_truth()
        preds, more = load_predictions(predictions, gt)
        warnings += more
        img_ids = None  # every ground-truth image
        skipped = []  # saved detections need no image files
        config.update(predictions=str(predictions))
    else:
        from ..detector import Detector
        from ..model import DEFAULT_MODEL

        model = DEFAULT_MODEL if model is None else model
        det = Detector(model, backend, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, batch=batch, workers=workers,
                       precision=precision)
        cat_of = class_map(ds, det.names, warnings)
        t1 = time.perf_counter()
        times = StageTimes()
        pred = predict_dataset(ds, det, cat_of, batch, progress, times)
        predict_s = time.perf_counter() - t1
        preds = pred.records
        skipped += [f"{rec.path}: {err}" for rec, err in pred.failed]
        if pred.failed:
            warnings.append(f"{len(pred.failed)} images could not be read and are left out of scoring: "
                            + ", ".join(str(r.path) for r, _ in pred.failed[:5]))
        gt = ds.ground_truth(pred.sizes, only_sized=True)
        _check_sizes(ds, pred.sizes, warnings)
        img_ids = sorted(pred.sizes)
        if not img_ids:
            raise DatasetError(f"{data}: no image could be read")
        ms = times.per_image_ms()
        speed = {"decode": ms.get("read", 0.0) + ms.get("decode", 0.0), "preprocess": ms.get("letterbox", 0.0),
                 "inference": ms.get("inference", 0.0), "postprocess": ms.get("postprocess", 0.0)}
        config.update(model=str(model), backend=backend, imgsz=imgsz, batch=batch, conf=conf, iou=iou, max_det=max_det)
    t2 = time.perf_counter()
    metrics = evaluate(gt, preds, img_ids)
    scoring_s = time.perf_counter() - t2
    config.update(scorer=_scorer_version(), max_dets=100)
    result = ValResult(metrics, ds, preds, config, speed, time.perf_counter() - t0, predict_s, scoring_s, skipped,
                       warnings, ground_truth=gt, scored_ids=img_ids)
    if save_dir is not None:
        from .report import save

        result.files = save(result, save_dir, plots=plots)
    return result


def _check_sizes(ds: Dataset, sizes: dict[int, tuple[int, int]], warnings: list[str]) -> None:
    """Warn when an image's decoded size differs from the size its annotations were made for."""
    bad = [r for r in ds.images if r.size is not None and r.id in sizes and tuple(sizes[r.id]) != tuple(r.size)]
    if bad:
        r = bad[0]
        warnings.append(f"{ds.source}: {len(bad)} images differ in size from their annotation record, e.g. "
                        f"{r.path} is {sizes[r.id][1]}x{sizes[r.id][0]}, annotated as {r.size[1]}x{r.size[0]}")


def _scorer_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"pycocotools {version('pycocotools')}"
    except PackageNotFoundError:
        return "pycocotools"
