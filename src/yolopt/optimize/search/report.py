"""What ``yolopt optimize`` writes besides the model: candidates.csv and report.html (through yolopt.report)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import OptimizeResult
    from .strategy import Row

COLUMNS = ("stage", "backend", "precision", "source", "pruning", "exact", "imgsz", "batch", "streams", "threads",
           "e2e_img_s", "latency_p50_ms", "map50_95", "map50", "drop", "within_budget", "cached", "note")


#: The report's table: candidates.csv without the columns that are constant in a search (source and pruning are
#: shown only when pruned models were searched).
SHOWN = ("stage", "source", "pruning", "backend", "precision", "imgsz", "batch", "streams", "threads", "e2e_img_s",
         "latency_p50_ms", "map50_95", "drop", "within_budget", "note")

HEADINGS = {"e2e_img_s": "img/s", "latency_p50_ms": "p50 ms", "map50_95": "mAP50-95", "within_budget": "in budget",
            "precision": "prec."}


def record(row: "Row", exact: bool, pruning: str = "") -> dict[str, Any]:
    """One row as a flat record (candidates.csv and the report's table share it); ``pruning``: how a pruned
    source was made (level, recovery budget)."""
    c, v = row.config, row.config.variant
    return {"stage": row.stage, "backend": v.backend, "precision": v.precision, "source": v.source or "model",
            "pruning": pruning, "exact": exact, "imgsz": c.imgsz, "batch": c.batch,
            "streams": c.streams or row.speed.get("streams"), "threads": c.threads,
            "e2e_img_s": row.speed.get("e2e_img_s"), "latency_p50_ms": row.speed.get("latency_ms"),
            "map50_95": row.accuracy.get("map50_95"), "map50": row.accuracy.get("map50"), "drop": row.drop,
            "within_budget": row.feasible, "cached": row.cached, "note": row.note}


def write_csv(records: list[dict[str, Any]], path: Path) -> Path:
    from ...io.sinks import TextOut

    out = TextOut(path, atomic=True)
    w = csv.DictWriter(out, COLUMNS)  # type: ignore[arg-type]  (TextOut has write())
    w.writeheader()
    w.writerows(records)
    out.close()
    return path


def pareto_figure(res: "OptimizeResult") -> Any:
    """mAP50-95 against end-to-end img/s of every scored screened config; the front, the budget and the winner."""
    from ...report.figure import new_figure

    fig = new_figure(7.5, 4.6, "optimize's Pareto chart")
    ax = fig.add_subplot()
    pts = [r for r in res.rows if r.stage == "screen" and r.accuracy and r.speed]
    by_variant: dict[str, list] = {}
    for r in pts:
        by_variant.setdefault(r.config.variant.label, []).append(r)
    for label, rs in sorted(by_variant.items()):
        ax.scatter([r.e2e for r in rs], [r.accuracy["map50_95"] for r in rs], s=22, label=label, alpha=0.85)
    front, best = [], -1.0
    for r in sorted(pts, key=lambda r: -r.e2e):
        if r.accuracy["map50_95"] > best:
            front.append(r)
            best = r.accuracy["map50_95"]
    rest = [r for r in res.rows if r.stage == "screen" and r.speed and not r.accuracy]
    if rest:
        ax.plot([r.e2e for r in rest], [0.0] * len(rest), "|", color="0.55", ms=14, transform=ax.get_xaxis_transform(),
                label="speed only (not scored: could not win)")
    if front:
        ax.step([r.e2e for r in front], [r.accuracy["map50_95"] for r in front], where="post", color="0.4", lw=1,
                label="Pareto front")
    ax.axhline(res.base_map - res.max_drop, color="tab:red", ls="--", lw=1,
               label=f"budget: mAP {res.base_map:.4f} - {res.max_drop:g}")
    if res.winner is not None and res.winner_screen is not None and res.winner_screen.accuracy:
        w = res.winner_screen
        ax.scatter([w.e2e], [w.accuracy["map50_95"]], marker="*", s=260, color="gold", edgecolor="k", zorder=5,
                   label="chosen")
    ax.set_xlabel("end-to-end images/s (screening run)")
    ax.set_ylabel("mAP50-95")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def write_html(res: "OptimizeResult", path: Path) -> Path:
    """report.html: chosen configuration and why, the Pareto chart, every candidate, what the budget bought."""
    from ...report import Code, Figure, KeyValues, Report, Table, Text

    rep = Report("yolopt optimize", subtitle=f"{res.model} on {res.val}: fastest {res.objective} within a "
                 f"mAP50-95 drop of {res.max_drop:g}")
    w = res.winner
    if w is None:
        rep.section("No configuration within the budget", Text(res.why))
    else:
        rep.section("Chosen configuration", KeyValues(res.chosen), Text(res.why))
        if res.bought:
            rep.section("What the accuracy budget bought", Text(res.bought))
    rep.section("Accuracy vs speed", Figure.from_matplotlib(
        pareto_figure(res), alt="Pareto chart: mAP50-95 against end-to-end images per second for every scored "
        "configuration", caption="Each point is a model variant at one input size (screening speed, default run "
        "settings). Configs not scored could not have won (see the table)."))
    records = res.records
    shown = [c for c in SHOWN if c not in ("source", "pruning") or any(rec["source"] != "model" for rec in records)]
    win_idx = next((i for i, r in enumerate(res.rows) if r is w), None)
    rep.section("Candidates", Table([HEADINGS.get(c, c) for c in shown], [[rec[c] for c in shown] for rec in records],
                                    highlight=win_idx,
                                    caption=f"every configuration considered ({len(records)}): screening runs at "
                                    "the backend's default layout, then the finalists' batch x streams x threads "
                                    "layouts (final); click a header to sort"))
    rep.section("How it searched", Text(res.method))
    rep.section("Reproduce", Code("\n".join(res.commands)))
    return rep.write(path)
