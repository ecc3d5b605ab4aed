"""``yolopt profile --html``: where the time goes (stages, queues, layers, cores) and what to change."""

from __future__ import annotations

from typing import Any

from .blocks import Code, KeyValues, Table, Text
from .command import command_line
from .document import Report
from .figure import Figure


def profile_report(rep: Any, sources: list[str] | None = None) -> Report:
    """The report of a :class:`~yolopt.profile.run.ProfileReport` (``sources``: the inputs, for the command)."""
    from ..profile.report import figure

    c, p = rep.config, rep.pipeline
    out = Report(f"yolopt profile: {c['model']} on {c['backend']}",
                 subtitle=f"batch {c['batch']}, {c['workers']} workers, {rep.images} images, imgsz {c['imgsz']}")
    if rep.findings:
        out.section("Findings", Text("\n".join(f"- **{f.kind}**: {f.evidence} Advice: {f.advice}"
                                               for f in rep.findings)))
    out.section("Where the time goes", Figure.from_matplotlib(
        figure(rep), alt="stacked stage times of the serial pass and queue waits of the pipelined pass"))
    out.section("Serial pass", Table(
        ["stage", "ms / image", "% of wall"],
        [[k, v, 100 * v / rep.serial_wall_ms if rep.serial_wall_ms else None] for k, v in rep.serial_ms.items()],
        caption=f"{rep.serial_wall_ms:.1f} ms/image wall; the stages explain {rep.accounted:.0%} of it"))
    out.section("Pipelined pass", Table(
        ["queue", "items", "producer blocked (full) s", "consumer starved (empty) s"],
        [[q["name"], q["items"], q["full_s"], q["empty_s"]] for q in p["queues"]],
        caption=f"{p['img_s']:.1f} img/s, {p['wall_ms_per_image']:.1f} ms/image wall"))
    out.section("System during the run", KeyValues(rep.system))
    if rep.layers:
        layers = sorted(rep.layers, key=lambda r: r.ms, reverse=True)
        out.section("Layers (slowest first)", Table(
            ["layer", "type", "ms / image", "share", "GFLOPs", "output"],
            [[r.name, r.type, r.ms, r.share, r.gflops, " x ".join(map(str, r.output_shape or ()))] for r in layers]))
    if rep.top_ops:
        out.section("Top operators", Table.from_records(rep.top_ops))
    out.section("Reproduce", Code(command_line("profile", *(sources or ["IMAGES"]), **{
        k: c[k] for k in ("model", "backend", "batch", "workers", "conf", "max_det", "imgsz")})))
    return out
