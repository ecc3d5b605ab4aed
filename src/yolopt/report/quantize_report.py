"""``yolopt quantize --html``: before/after size, speed and mAP, per-class AP changes, layers kept in float."""

from __future__ import annotations

from typing import Any

from .blocks import KeyValues, Table, Text
from .document import Report


def quantize_report(rep: dict[str, Any]) -> Report:
    """The report of ``yolopt quantize`` (its JSON report dict, as written to ``<model>.report.json``)."""
    from ..optimize.report import rows

    table = rows(rep)
    out = Report(f"yolopt quantize: {rep['precision'].upper()} ({rep['backend']})",
                 subtitle=f"{rep['model']}, from {rep['baseline']}")
    out.section("Before and after", Table(table[0], table[1:], sortable=False,
                                          caption=f"mAP on {rep['val']}" if "val" in rep else None))
    if "speed" in rep:
        out.section("How speed was measured", Text(rep["speed"]["method"] + ". Latency is per image, submitted "
                                                   "to result."))
    facts = {"backend": rep["backend"], "precision": rep["precision"], "runs at": rep.get("run_precision"),
             "calibration": rep.get("calibration", {}).get("data"),
             "calibration images": rep.get("calibration", {}).get("images"), "validation": rep.get("val"),
             "mAP50-95 drop": rep.get("drop"), "seconds": rep.get("seconds"),
             **{f"accuracy control: {k}": v for k, v in (rep.get("accuracy_control") or {}).items()}}
    out.section("Settings", KeyValues({k: v for k, v in facts.items() if v is not None}))
    if rep.get("per_class"):
        out.section("Per-class AP50-95 change", Table(
            ["class", "instances", "AP before", "AP after", "change"],
            [[c["class"], c["instances"], c["ap_before"], c["ap_after"], c["change"]] for c in rep["per_class"]],
            caption="largest absolute change first; click a header to sort"))
    if rep["precision"] == "int8":
        lf = rep.get("layers_float", [])
        out.section(f"Layers kept in float ({len(lf)})",
                    Text("\n".join(f"- `{n}`" for n in lf) if lf else "None: every quantizable layer runs in INT8."))
    if rep.get("notes"):
        out.section("Notes", Text("\n".join(f"- {n}" for n in rep["notes"])))
    return out
