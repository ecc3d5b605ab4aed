"""Issue #12: a pruned model's recovery curve — mAP50-95 on coco-val against distillation epochs.

    python benchmarks/recovery_curve.py RUN [RUN ...] [--point EPOCH:MAP ...] [--target 0.378] [--out PNG]

Each RUN is a ``yolopt train`` folder (its ``results.csv``; the runs continue one another, so their epochs are
chained in the order given); ``--point`` adds a measurement taken outside a run (e.g. ``0:0.2404``, the
one-shot model, or ``yolopt val`` of a run trained with ``--no-val``). Prints the table with the wall time of
every epoch, writes the chart.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def chained(runs: list[Path], start: int) -> list[dict[str, float]]:
    """Every epoch row of ``runs``, numbered from ``start`` on across them."""
    rows, offset = [], start
    for run in runs:
        with open(run / "results.csv", newline="") as f:
            own = list(csv.DictReader(f))
        for r in own:
            rows.append({"epoch": offset + int(r["epoch"]), "epoch_s": float(r["epoch_s"]),
                         "map50_95": float(r["map50_95"]) if r["map50_95"] else None,
                         "map50": float(r["map50"]) if r["map50"] else None, "run": run.name})
        offset += len(own)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--point", action="append", default=[], help="EPOCH:MAP measured outside the runs")
    ap.add_argument("--start", type=int, default=0, help="epochs trained before the first run")
    ap.add_argument("--target", type=float, default=0.378)
    ap.add_argument("--out", type=Path, default=Path("recovery.png"))
    args = ap.parse_args()
    rows = chained(args.runs, args.start)
    points = {int(e): float(m) for e, m in (p.split(":") for p in args.point)}
    points.update({int(r["epoch"]): r["map50_95"] for r in rows if r["map50_95"] is not None})
    hours = sum(r["epoch_s"] for r in rows) / 3600
    print(f"{len(rows)} epochs in {hours:.2f} h of training ({', '.join(dict.fromkeys(r['run'] for r in rows))})")
    print("| epochs | mAP50-95 | gap to target |\n|---:|---:|---:|")
    for e in sorted(points):
        print(f"| {e} | {points[e]:.4f} | {args.target - points[e]:+.4f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = sorted(points)
    ax.plot(xs, [points[x] for x in xs], "o-", label="pruned model (0.698 of the MACs), label-free distillation")
    ax.axhline(args.target, color="tab:red", ls="--", label=f"target {args.target}")
    ax.set_xlabel("epochs of distillation (422 unlabelled images)")
    ax.set_ylabel("mAP50-95 on coco-val")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"chart: {args.out}")


if __name__ == "__main__":
    main()
