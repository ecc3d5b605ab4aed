"""What a run writes beside its weights: args.json, results.csv (one row per epoch) and the results.png chart."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

COLUMNS = ("epoch", "box_loss", "cls_loss", "dfl_loss", "lr", "map50_95", "map50", "train_img_s", "epoch_s",
           "rss_mb", "skipped_steps")
KD_COLUMNS = ("kd_cls", "kd_dfl", "kd_feat")


def write_json(path: Path, obj: Any) -> None:
    """JSON through a temporary file and a rename, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


def write_results(path: Path, rows: list[dict[str, Any]]) -> None:
    """The whole results.csv, rewritten atomically each epoch (so a resumed run continues it cleanly)."""
    tmp = path.with_name(path.name + ".tmp")
    cols = COLUMNS + tuple(k for k in KD_COLUMNS if any(k in r for r in rows))  # distillation terms, when run
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in cols})
    os.replace(tmp, path)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def plot_results(path: Path, rows: list[dict[str, Any]]) -> Path | None:
    """Losses, LR and mAP per epoch as one PNG; None when matplotlib is missing (the CSV has the numbers)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    ep = [r["epoch"] for r in rows]
    keys = ("box_loss", "cls_loss", "dfl_loss", "lr", "map50_95", "map50")
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, k in zip(axes.ravel(), keys):
        pts = [(e, r[k]) for e, r in zip(ep, rows) if r.get(k) is not None]
        if pts:
            ax.plot(*zip(*pts), marker=".")
        ax.set_title(k)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
