"""Profile output: terminal report, JSON and a PNG (stage breakdown and queue waits)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .run import ProfileReport


def print_report(rep: ProfileReport, top_layers: int = 12) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=None if sys.stdout.isatty() else 160)
    c = rep.config
    con.print(f"[bold]yolopt profile[/] {c['model']} on {c['backend']}, batch {c['batch']}, {c['workers']} workers, "
              f"{rep.images} images, conf {c['conf']}, max_det {c['max_det']}")
    t = Table(title=f"Serial pass: {rep.serial_wall_ms:.1f} ms/image wall, stages explain {rep.accounted:.0%}")
    for col in ("stage", "ms / image", "share of wall"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    for k, v in rep.serial_ms.items():
        t.add_row(k, f"{v:.2f}", f"{v / rep.serial_wall_ms:.1%}")
    con.print(t)
    p = rep.pipeline
    q = Table(title=f"Pipelined pass: {p['img_s']:.1f} img/s ({p['wall_ms_per_image']:.1f} ms/image wall)")
    for col in ("queue", "items", "producer blocked (full) s", "consumer starved (empty) s"):
        q.add_column(col, justify="left" if col == "queue" else "right")
    for row in p["queues"]:
        q.add_row(row["name"], str(row["items"]), f"{row['full_s']:.2f}", f"{row['empty_s']:.2f}")
    con.print(q)
    s = rep.system
    con.print(f"CPU mean {s.get('cpu_mean_percent')}% over {s.get('cores')} cores {s.get('per_core_percent')}, "
              f"peak RSS {s.get('peak_rss_mb')} MB" + (f", GPU {s['gpu_util_percent']}%" if "gpu_util_percent" in s else ""))
    if rep.layers:
        lt = Table(title=f"Slowest layers (of {len(rep.layers)}; all in the JSON)")
        for col in ("layer", "type", "ms / image", "share", "GFLOPs", "output"):
            lt.add_column(col, justify="left" if col in ("layer", "type", "output") else "right")
        for r in sorted(rep.layers, key=lambda r: r.ms, reverse=True)[:top_layers]:
            lt.add_row(r.name, r.type, f"{r.ms:.3f}", f"{r.share:.1%}", "-" if r.gflops is None else f"{r.gflops:.2f}",
                       str(r.output_shape or ""))
        con.print(lt)
    for f in rep.findings:
        con.print(f"[bold yellow]{f.kind}[/]: {f.evidence}\n  → {f.advice}")


def save(rep: ProfileReport, out_dir: str | Path) -> dict[str, Path]:
    """Write profile.json and profile.png into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "profile.json", "png": out / "profile.png"}
    rep.files.update({k: str(v) for k, v in paths.items()})
    paths["json"].write_text(json.dumps(rep.to_dict(), indent=2, default=str))
    chart(rep, paths["png"])
    return paths


def chart(rep: ProfileReport, path: Path) -> None:
    """Write :func:`figure` as a PNG."""
    figure(rep).savefig(path, dpi=110)


def figure(rep: ProfileReport) -> Any:
    """Left: serial ms/image per stage, stacked. Right: queue waits of the pipelined pass."""
    from ..report.figure import new_figure

    fig = new_figure(10, 4.5, "the profile chart")
    a, b = fig.subplots(1, 2)
    bottom = 0.0
    for i, (k, v) in enumerate(rep.serial_ms.items()):
        if v <= 0:
            continue
        a.bar(["serial pass"], [v], bottom=bottom, label=f"{k} {v:.1f} ms", color=f"C{i % 10}")
        bottom += v
    a.bar(["wall"], [rep.serial_wall_ms], color="#888888")
    a.bar(["pipelined wall"], [rep.pipeline["wall_ms_per_image"]], color="#444444")
    a.set_ylabel("ms per image")
    a.set_title("where the time goes")
    a.legend(fontsize=8)
    names = [q["name"] for q in rep.pipeline["queues"]]
    full = [q["full_s"] for q in rep.pipeline["queues"]]
    empty = [q["empty_s"] for q in rep.pipeline["queues"]]
    x = range(len(names))
    b.bar([i - 0.2 for i in x], full, 0.4, label="producer blocked (queue full)")
    b.bar([i + 0.2 for i in x], empty, 0.4, label="consumer starved (queue empty)")
    b.set_xticks(list(x), names)
    b.set_ylabel("seconds")
    b.set_title(f"pipelined: {rep.pipeline['img_s']:.1f} img/s")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig
