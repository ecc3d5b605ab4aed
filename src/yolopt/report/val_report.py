"""``yolopt val --html``: the COCO figures, PR curves, per-class AP and the confusion matrix as one report."""

from __future__ import annotations

from typing import Any

import numpy as np

from .command import command_line
from .blocks import Code, KeyValues, Table, Text
from .document import Report
from .figure import Figure, new_figure

#: Most classes the confusion matrix shows (those with the most ground truth); the table has them all.
MATRIX_CLASSES = 30


def confusion_figure(cm: Any, top: int = MATRIX_CLASSES) -> Any:
    """The confusion matrix as a heat map, each true class's row normalised, for its ``top`` busiest classes."""
    counts = cm.counts
    k = len(cm.names)
    total = counts[:k].sum(1) + counts[:, :k].sum(0)
    busiest = np.argsort(-total, kind="stable")[:top]
    keep = np.sort(busiest[total[busiest] > 0])
    idx = np.append(keep, k)
    sub = counts[np.ix_(idx, idx)].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = sub / sub.sum(1, keepdims=True)
    labels = [cm.names[i] for i in keep] + ["background"]
    n = len(labels)
    fig = new_figure(max(5.0, 0.32 * n + 2.5), max(4.5, 0.32 * n + 2), "the confusion matrix")
    ax = fig.add_subplot()
    im = ax.imshow(np.nan_to_num(norm), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix (conf >= {cm.conf:g}, IoU > {cm.iou:g}; rows sum to 1)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def _command(cfg: dict[str, Any]) -> str:
    """The ``yolopt val`` command line that reproduces this result."""
    if "predictions" in cfg:
        return command_line("val", cfg["data"], predictions=cfg["predictions"], split=cfg.get("split"))
    return command_line("val", cfg["data"], split=cfg.get("split"), **{k: cfg[k] for k in (
        "model", "backend", "imgsz", "batch", "conf", "iou", "max_det")})


def val_report(result: Any, all_classes: bool = False) -> Report:
    """The report of a :class:`~yolopt.eval.val.ValResult`."""
    from ..eval.confusion import confusion_matrix
    from ..eval.report import pr_figure

    m, cfg = result.metrics, result.config
    title = f"yolopt val: {cfg.get('model', cfg.get('predictions'))} on {cfg['data']}"
    rep = Report(title, subtitle=f"{m.images} images, {m.instances} instances, {m.detections} detections scored "
                                 f"({cfg.get('scorer', 'pycocotools')}, maxDets 100)")
    rep.section("Summary", KeyValues({
        "mAP50-95": m.map50_95, "mAP50": m.map50, "mAP75": m.map75, "AP small / medium / large":
        " / ".join(f"{v:.4f}" for v in (m.map_small, m.map_medium, m.map_large)),
        "AR1 / AR10 / AR100": " / ".join(f"{v:.4f}" for v in (m.ar1, m.ar10, m.ar100)),
        "best F1 (confidence)": f"{m.f1:.3f} at {m.best_conf:.3f}: precision {m.precision:.3f}, recall {m.recall:.3f}",
        **({"time per image (ms)": ", ".join(f"{k} {v:.1f}" for k, v in result.speed_ms.items())}
           if result.speed_ms else {}),
        "wall time (s)": round(result.wall_s, 1)}))
    if result.warnings or result.skipped:
        rep.section("Warnings", Text("\n".join(f"- {w}" for w in result.warnings + result.skipped)))
    rows = [r for r in m.per_class if all_classes or r.images]
    rep.section("Per-class AP", Table(
        ["class", "images", "instances", "P", "R", "AP50", "AP75", "AP50-95"],
        [[r.name, r.images, r.instances, r.precision, r.recall, r.ap50, r.ap75, r.ap50_95] for r in rows],
        caption=f"P and R at the best-F1 confidence {m.best_conf:.3f}; click a header to sort"))
    if m.pr_precision is not None:
        rep.section("Precision-recall curves", Figure.from_matplotlib(
            pr_figure(m, str(cfg["data"])), alt="precision-recall curves per class and averaged"))
    if result.ground_truth is not None:
        cm = confusion_matrix(result.ground_truth, result.predictions, result.scored_ids)
        rep.section("Confusion matrix", Figure.from_matplotlib(
            confusion_figure(cm), alt="confusion matrix of true against predicted classes",
            caption=f"The {MATRIX_CLASSES} classes with the most boxes at most; last row: false detections, "
                    "last column: missed boxes."))
    rep.section("Reproduce", Code(_command(cfg)), KeyValues(cfg, caption="configuration"))
    return rep
