"""Benchmark output: a terminal table, JSON, CSV and a PNG chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .runner import BenchResult

COLUMNS = ("backend", "precision", "batch", "e2e img/s", "infer img/s", "e2e/infer", "lat p50", "lat p95", "lat p99",
           "batch p50", "peak RSS MB", "mAP50-95", "mAP50")


def _several_models(results: list[BenchResult]) -> bool:
    return len({r.model for r in results}) > 1


def columns(results: list[BenchResult]) -> tuple[str, ...]:
    """The table's columns: a leading model column only when several models are compared."""
    return ("model", *COLUMNS) if _several_models(results) else COLUMNS


def rows(results: list[BenchResult]) -> list[list[str]]:
    out = []
    several = _several_models(results)
    for r in results:
        ratio = r.e2e_img_s / r.infer_img_s if r.infer_img_s == r.infer_img_s and r.infer_img_s else float("nan")
        out.append([
            *([r.model] if several else []),
            r.backend, r.precision, str(r.batch), f"{r.e2e_img_s:.1f}", f"{r.infer_img_s:.1f}", f"{ratio:.2f}",
            f"{r.latency_ms['p50']:.0f}", f"{r.latency_ms['p95']:.0f}", f"{r.latency_ms['p99']:.0f}",
            f"{r.batch_latency_ms['p50']:.0f}", f"{r.peak_rss_mb:.0f}",
            "-" if r.map50_95 is None else f"{r.map50_95:.4f}", "-" if r.map50 is None else f"{r.map50:.4f}",
        ])
    return out


def markdown_table(results: list[BenchResult]) -> str:
    """The table as GitHub Markdown (latencies in ms)."""
    cols = columns(results)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(results)]
    return "\n".join(lines)


def print_table(results: list[BenchResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="yolopt bench (latency in ms per image, submit → result)")
    for c in columns(results):
        table.add_column(c, justify="left" if c in ("model", "backend", "precision") else "right")
    for r in rows(results):
        table.add_row(*r)
    import sys

    Console(width=None if sys.stdout.isatty() else 200).print(table)


def save(results: list[BenchResult], out_dir: str | Path, meta: dict | None = None) -> dict[str, Path]:
    """Write bench.json, bench.csv, bench.md and bench.png into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "bench.json", "csv": out / "bench.csv", "md": out / "bench.md", "png": out / "bench.png"}
    paths["json"].write_text(json.dumps({"meta": meta or {}, "results": [r.to_dict() for r in results]}, indent=2))
    with open(paths["csv"], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns(results))
        w.writerows(rows(results))
    paths["md"].write_text(markdown_table(results) + "\n")
    chart(results, paths["png"], title=(meta or {}).get("title", "yolopt bench"))
    return paths


def chart(results: list[BenchResult], path: Path, title: str = "yolopt bench") -> None:
    """Grouped bars: end-to-end vs inference-only img/s per configuration."""
    from ..optional import require

    matplotlib = require("matplotlib", "yolopt[eval]", "the bench chart")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    several = _several_models(results)
    labels = [(f"{r.model}\n" if several else "") + f"{r.backend}\n{r.precision} b{r.batch}" for r in results]
    x = np.arange(len(results))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(results) + 2), 4.5))
    e2e = [r.e2e_img_s for r in results]
    inf = [r.infer_img_s for r in results]
    ax.bar(x - 0.2, inf, 0.4, label="inference only", color="#9ecae1")
    ax.bar(x + 0.2, e2e, 0.4, label="end to end (decode→NMS)", color="#3182bd")
    for xi, v in zip(x, e2e):
        ax.text(xi + 0.2, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("images / s")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
