"""``yolopt bench --html``: the speed table (sortable), the throughput chart and how it was measured."""

from __future__ import annotations

from typing import Any

from .blocks import Code, Table, Text
from .command import command_line
from .document import Report
from .figure import Figure


def bench_report(results: list[Any], meta: dict[str, Any]) -> Report:
    """The report of ``yolopt bench``'s :class:`~yolopt.bench.runner.BenchResult` rows and its settings ``meta``."""
    from ..bench.report import columns, figure, values

    best = max(range(len(results)), key=lambda i: results[i].e2e_img_s)
    b = results[best]
    rep = Report(str(meta.get("title", "yolopt bench")),
                 subtitle=f"{results[0].images} images, imgsz {meta.get('imgsz')}, conf {meta.get('conf')}")
    rep.section("Summary", Text(
        f"Fastest end to end: **{b.backend} {b.precision}, batch {b.batch}** "
        f"({(b.model + ', ') if b.model else ''}{b.e2e_img_s:.1f} img/s; {b.infer_img_s:.1f} img/s inference only). "
        "End to end is decode, letterbox, inference and NMS overlapped as `yolopt predict` runs them; latency is "
        "per image, from submission to result, in ms."))
    rep.section("Results", Table(columns(results), values(results), highlight=best,
                                 caption="highlighted: the fastest end to end; click a header to sort"),
                Figure.from_matplotlib(figure(results, str(meta.get("title", "yolopt bench"))),
                                       alt="bar chart of end-to-end and inference-only images per second"))
    stages = list(dict.fromkeys(k for r in results for k in r.stage_ms))  # pipeline order
    if stages:
        rep.section("Time per stage (ms per image)", Table(
            ["backend", "precision", "batch", *stages],
            [[r.backend, r.precision, r.batch, *(r.stage_ms.get(k) for k in stages)] for r in results]))
    opts = {"model": meta.get("models"), "backends": meta.get("backends"), "batches": meta.get("batches"),
            "precisions": meta.get("precisions"), "imgsz": meta.get("imgsz"), "conf": meta.get("conf"),
            "limit": meta.get("limit"), "annotations": meta.get("annotations")}
    rep.section("Reproduce", Code(command_line("bench", *meta.get("sources", []), **opts)))
    return rep
