"""``yolopt prune --html``: variants x runtimes (size, GFLOPs, img/s, mAP), the chart, fine-tuning runs, BN scales,
channels per layer."""

from __future__ import annotations

from typing import Any

from .blocks import KeyValues, Table, Text
from .document import Report
from .figure import Figure

ROW_KEYS = (("model", "model"), ("runtime", "runtime"), ("target", "target MACs"), ("macs_kept", "MACs kept"),
            ("params", "params"), ("gflops", "GFLOPs@640"), ("file_mb", "file (MB)"), ("infer_img_s", "infer img/s"),
            ("e2e_img_s", "e2e img/s"), ("e2e_vs_original", "e2e vs original"), ("map50_95", "mAP50-95"),
            ("map50", "mAP50"))


def prune_report(rep: dict[str, Any]) -> Report:
    """The report of ``yolopt prune`` (report.json) or of ``yolopt prune --sweep`` (sweep.json)."""
    from ..optimize.prune.report import figure

    sweep = "settings" not in rep
    rows = [{**r, "runtime": "pending"} if "pending" in r and not r.get("runtime") else r for r in rep["rows"]]
    keys = [(k, name) for k, name in ROW_KEYS if any(k in r for r in rows)]
    out = Report(f"yolopt prune{' sweep' if sweep else ''}: {rep['original']}", subtitle=rep.get("machine"))
    if sweep:
        facts = {"importance": rep["importance"], "scope": rep["scope"], "round to": rep["round_to"],
                 "recovery fine-tuning": rep.get("recovery")}
    else:
        s = rep["settings"]
        facts = {"pruned model": rep["model"], **{k.replace("_", " "): v for k, v in s.items()},
                 "MACs kept": rep["macs_fraction"], "parameters kept": rep["params_fraction"]}
    out.section("Settings", KeyValues(facts), Text(rep["measured"]))
    out.section("Variants", Table([name for _, name in keys], [[r.get(k) for k, _ in keys] for r in rows],
                                  caption="a row without measurements is pending (see the notes)"))
    if sweep:
        from ..optimize.prune.sweep import figure as sweep_figure

        chart = sweep_figure(rep)
    else:
        chart = figure(rep["rows"], f"yolopt prune: {rep['original']}")
    out.section("Chart", Figure.from_matplotlib(chart, alt="speed and mAP50-95 of every measured variant"))
    if rep.get("notes"):
        out.section("Notes", Text("\n".join(f"- {n}" for n in rep["notes"])))
    if rep.get("finetune"):
        out.section("Fine-tuning", Table(
            ["run", "teacher", "data", "label-free", "epochs", "imgsz", "seconds"],
            [[f["name"], f["teacher"] or "-", f["data"], "yes" if f["label_free"] else "no", f["epochs"], f["imgsz"],
              f["seconds"]] for f in rep["finetune"]]))
    if rep.get("bn_scales"):
        out.section("BatchNorm |scale|", Table(
            ["model", "BN channels", "median |scale|", "share < 0.01", "share < 0.1"],
            [[k, h["channels"], h["median"], h["below_0.01"], h["below_0.1"]] for k, h in rep["bn_scales"].items()]))
    if rep.get("channels"):
        out.section("Channels per layer", Table(
            ["layer", "in before", "in after", "out before", "out after", "kept"],
            [[c["layer"], c["in_before"], c["in_after"], c["before"], c["after"], c["after"] / c["before"]]
             for c in rep["channels"]]))
    return out
