"""Benchmark output: a terminal table, JSON, CSV and a PNG chart."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from .runner import BenchResult

COLUMNS = ("backend", "precision", "batch", "e2e img/s", "infer img/s", "e2e/infer", "lat p50", "lat p95", "lat p99",
           "batch p50", "peak RSS MB", "mAP50-95", "mAP50")


def _several_models(results: list[BenchResult]) -> bool:
    return len({r.model for r in results}) > 1


def columns(results: list[BenchResult]) -> tuple[str, ...]:
    """The table's columns: a leading model column only when several models are compared."""
    return ("model", *COLUMNS) if _several_models(results) else COLUMNS


# How :func:`rows` prints each column of :func:`values` (None: as is).
FORMATS = (None, None, "d", ".1f", ".1f", ".2f", ".0f", ".0f", ".0f", ".0f", ".0f", ".4f", ".4f")


def values(results: list[BenchResult]) -> list[list[Any]]:
    """The table's rows as numbers (None where not measured), in :func:`columns` order."""
    several = _several_models(results)
    out = []
    for r in results:
        ratio = r.e2e_img_s / r.infer_img_s if r.infer_img_s == r.infer_img_s and r.infer_img_s else float("nan")
        out.append([*([r.model] if several else []), r.backend, r.precision, r.batch, r.e2e_img_s, r.infer_img_s,
                    ratio, r.latency_ms["p50"], r.latency_ms["p95"], r.latency_ms["p99"], r.batch_latency_ms["p50"],
                    r.peak_rss_mb, r.map50_95, r.map50])
    return out


def rows(results: list[BenchResult]) -> list[list[str]]:
    """The table's rows as text."""
    fmts = ((None,) if _several_models(results) else ()) + FORMATS
    return [["-" if v is None else str(v) if f is None else format(v, f) for v, f in zip(row, fmts)]
            for row in values(results)]


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
    """Write :func:`figure` as a PNG."""
    figure(results, title).savefig(path, dpi=110)


def figure(results: list[BenchResult], title: str = "yolopt bench") -> Any:
    """Grouped bars: end-to-end vs inference-only img/s per configuration."""
    import numpy as np

    from ..report.figure import new_figure

    several = _several_models(results)
    labels = [(f"{r.model}\n" if several else "") + f"{r.backend}\n{r.precision} b{r.batch}" for r in results]
    x = np.arange(len(results))
    fig = new_figure(max(6, 1.2 * len(results) + 2), 4.5, "the bench chart")
    ax = fig.add_subplot()
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
    return fig
