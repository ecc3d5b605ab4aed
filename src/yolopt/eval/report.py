"""Reporting a :class:`ValResult`: the terminal table, ``metrics.json``, ``predictions.json`` and the PR curve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .coco import CocoMetrics


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None or v != v else f"{v:.{digits}f}"


def format_table(result: Any, all_classes: bool = False) -> str:
    """The readable summary: per-class P/R/AP, the COCO figures, and time per stage."""
    m: CocoMetrics = result.metrics
    cfg = result.config
    head = f"yolopt val: {cfg['data']} ({cfg['format']}, {m.images} images, {m.instances} instances"
    head += f", predictions {cfg['predictions']})" if "predictions" in cfg else (
        f", model {cfg['model']}, conf {cfg['conf']:g}, iou {cfg['iou']:g}, max_det {cfg['max_det']}, "
        f"batch {cfg['batch']})")
    rows = [r for r in m.per_class if all_classes or r.images]
    width = max([5, *(len(r.name) for r in rows)])
    line = f"{{:>{width}}} {{:>7}} {{:>9}} {{:>6}} {{:>6}} {{:>6}} {{:>8}}"
    out = [head, line.format("class", "images", "instances", "P", "R", "AP50", "AP50-95"),
           line.format("all", m.images, m.instances, _f(m.precision), _f(m.recall), _f(m.map50), _f(m.map50_95))]
    out += [line.format(r.name, r.images, r.instances, _f(r.precision), _f(r.recall), _f(r.ap50), _f(r.ap50_95))
            for r in rows]
    hidden = len(m.per_class) - len(rows)
    if hidden:
        out.append(f"({hidden} categories without ground truth in these images not shown)")
    out += [
        f"COCO bbox ({cfg.get('scorer', 'pycocotools')}, maxDets 100, crowd regions ignored):",
        f"  AP50-95 {m.map50_95:.4f}  AP50 {m.map50:.4f}  AP75 {m.map75:.4f}  "
        f"APs {_f(m.map_small, 4)}  APm {_f(m.map_medium, 4)}  APl {_f(m.map_large, 4)}",
        f"  AR1 {m.ar1:.4f}  AR10 {m.ar10:.4f}  AR100 {m.ar100:.4f}  "
        f"ARs {_f(m.ar_small, 4)}  ARm {_f(m.ar_medium, 4)}  ARl {_f(m.ar_large, 4)}",
        f"  best F1 {m.f1:.3f} at conf {m.best_conf:.3f}: P {_f(m.precision)}  R {_f(m.recall)}  "
        f"({m.detections} detections scored)",
    ]
    if result.speed_ms:
        out.append("speed per image (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in result.speed_ms.items())
                   + " (decode/preprocess run in parallel workers)")
        out.append(f"{m.images} images in {result.wall_s:.1f} s (predict {result.predict_s:.1f} s, "
                   f"scoring {result.scoring_s:.1f} s)")
    else:
        out.append(f"scored in {result.scoring_s:.1f} s")
    return "\n".join(out)


def metrics_dict(result: Any) -> dict[str, Any]:
    """What ``metrics.json`` holds: summary, operating point, per-class table, speed, config, warnings."""
    d = result.metrics.to_dict()
    d["speed_ms_per_image"] = {k: round(v, 3) for k, v in result.speed_ms.items()}
    d["wall_s"] = round(result.wall_s, 3)
    d["predict_s"] = round(result.predict_s, 3)
    d["scoring_s"] = round(result.scoring_s, 3)
    d["config"] = result.config
    d["skipped_images"] = result.skipped
    d["warnings"] = result.warnings
    return d


def save(result: Any, save_dir: str | Path, plots: bool = True) -> dict[str, Path]:
    """Write metrics.json, predictions.json (COCO results) and, with ``plots``, pr_curve.png; their paths."""
    out = Path(save_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"metrics": out / "metrics.json", "predictions": out / "predictions.json"}
    files["metrics"].write_text(json.dumps(metrics_dict(result), indent=2) + "\n")
    with open(files["predictions"], "w") as f:
        json.dump(result.predictions, f, separators=(",", ":"))
    if plots:
        files["pr_curve"] = plot_pr_curve(result.metrics, out / "pr_curve.png", title=str(result.config.get("data")))
    return files


def plot_pr_curve(m: CocoMetrics, path: str | Path, title: str = "") -> Path:
    """Write :func:`pr_figure` as a PNG."""
    pr_figure(m, title).savefig(path, dpi=120)
    return Path(path)


def pr_figure(m: CocoMetrics, title: str = "") -> Any:
    """PR curves (pycocotools' 101-point interpolated precision): per class and mean, IoU .50 and .50:.95."""
    from ..report.figure import new_figure

    assert m.pr_precision is not None and m.pr_recall is not None
    prec = np.where(m.pr_precision > -1, m.pr_precision, np.nan)  # (T, R, K)
    has_gt = ~np.isnan(prec[0]).all(0)
    fig = new_figure(7, 6, "the PR curve")
    ax = fig.add_subplot()
    for k in np.flatnonzero(has_gt):
        ax.plot(m.pr_recall, prec[0, :, k], color="0.75", lw=0.6)
    with np.errstate(all="ignore"):
        if has_gt.any():
            ax.plot(m.pr_recall, np.nanmean(prec[0][:, has_gt], 1), color="C0", lw=2.5,
                    label=f"all classes, IoU 0.50 (AP50 {m.map50:.3f})")
            ax.plot(m.pr_recall, np.nanmean(prec[:, :, has_gt], (0, 2)), color="C1", lw=2, ls="--",
                    label=f"all classes, IoU 0.50:0.95 (AP {m.map50_95:.3f})")
    ax.plot([], [], color="0.75", lw=0.6, label="each class, IoU 0.50")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title=f"Precision-recall{': ' + title if title else ''}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig
