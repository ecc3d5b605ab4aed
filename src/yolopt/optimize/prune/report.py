"""The prune report: a table of variants x runtimes (size, GFLOPs, img/s, mAP), channels per layer, a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = ("model", "runtime", "params (M)", "GFLOPs@640", "file (MB)", "infer img/s", "e2e img/s",
           "e2e vs original", "mAP50-95", "mAP50")


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with ``e2e_vs_original`` / ``infer_vs_original``: img/s over the first row of the same runtime."""
    first: dict[str, dict[str, Any]] = {}
    for r in rows:
        if "file" not in r:
            continue
        ref = first.setdefault(r["runtime"], r)
        for key in ("e2e_img_s", "infer_img_s"):
            if r.get(key) and ref.get(key):
                r[key.replace("_img_s", "_vs_original")] = round(r[key] / ref[key], 3)
    return rows


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The report's rows as strings, in :data:`COLUMNS` order."""
    out = []
    for r in rows:
        if "file" not in r:
            out.append([r["model"], "pending"] + ["-"] * (len(COLUMNS) - 2))  # the reason is in the notes
            continue
        out.append([r["model"], r["runtime"], f"{r['params'] / 1e6:.3f}", f"{r['gflops']:.2f}", f"{r['file_mb']:.2f}",
                    _num(r.get("infer_img_s"), ".1f"), _num(r.get("e2e_img_s"), ".1f"),
                    _num(r.get("e2e_vs_original"), ".2f") + ("x" if r.get("e2e_vs_original") else ""),
                    _num(r.get("map50_95"), ".4f"), _num(r.get("map50"), ".4f")])
    return out


def text_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    """An aligned plain-text table (first two columns left-aligned, numbers right-aligned)."""
    w = [max(len(str(x[i])) for x in [list(header), *rows]) for i in range(len(header))]
    fmt = lambda x: "  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i]) for i, c in enumerate(x))  # noqa: E731
    lines = [fmt(header), "-" * sum(w) + "-" * 2 * (len(w) - 1)] + [fmt(x) for x in rows]
    return "\n".join(lines)


def md_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(x) + " |" for x in rows])


def channel_rows(channels: list[dict[str, Any]]) -> list[list[str]]:
    return [[c["layer"], f"{c['in_before']} -> {c['in_after']}", str(c["before"]), str(c["after"]),
             f"{c['after'] / c['before']:.0%}"] for c in channels]


CHANNEL_COLUMNS = ("layer", "in channels", "out before", "out after", "kept")
FT_COLUMNS = ("run", "teacher", "data", "label-free", "epochs", "imgsz", "seconds")
BN_COLUMNS = ("model", "BN channels", "median |scale|", "< 0.01", "< 0.1")


def markdown(rep: dict[str, Any]) -> str:
    """The report as Markdown: settings, the variants table, notes, the per-layer channel table."""
    s = rep["settings"]
    lines = [f"# yolopt prune: {rep['original']}", "",
             f"Pruned {s['scope']} with `{s['importance']}` importance, ratio {s['ratio']}"
             + (f" (searched for --target-macs {s['target_macs']})" if s.get("target_macs") else "")
             + f", channels rounded to multiples of {s['round_to']}, {s['steps']} step(s): "
             f"**{rep['macs_fraction']:.3f} of the MACs**, {rep['params_fraction']:.3f} of the parameters.",
             "", f"Machine: {rep['machine']}. {rep['measured']}", "",
             md_table(COLUMNS, table_rows(rep["rows"]))]
    if rep.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in rep["notes"]]
    if rep.get("finetune"):
        lines += ["", "## Fine-tuning", "", md_table(FT_COLUMNS, [
            [f["name"], f["teacher"] or "-", str(f["data"]), "yes" if f["label_free"] else "no", str(f["epochs"]),
             str(f["imgsz"]), f"{f['seconds']:.0f}"] for f in rep["finetune"]])]
    if rep.get("bn_scales"):
        lines += ["", "## BatchNorm |scale|", "", md_table(BN_COLUMNS, [
            [k, str(h["channels"]), f"{h['median']:.3g}", f"{h['below_0.01']:.1%}", f"{h['below_0.1']:.1%}"]
            for k, h in rep["bn_scales"].items()])]
    lines += ["", "## Channels per layer", "", md_table(CHANNEL_COLUMNS, channel_rows(rep["channels"]))]
    return "\n".join(lines) + "\n"


def chart(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Write :func:`figure` as a PNG."""
    figure(rows, title).savefig(path, dpi=110)
    return path


def figure(rows: list[dict[str, Any]], title: str) -> Any:
    """Bars of end-to-end and inference-only img/s, and of mAP50-95, for every measured row."""
    from ...report.figure import new_figure

    live = [r for r in rows if "file" in r]
    labels = [f"{r['model']}\n{r['runtime']}" for r in live]
    x = range(len(live))
    fig = new_figure(max(8, 1.6 * len(live) + 4), 4.5, "the prune chart")
    a, b = fig.subplots(1, 2)
    a.bar([i - 0.2 for i in x], [r.get("e2e_img_s") or 0 for r in live], 0.4, label="end to end")
    a.bar([i + 0.2 for i in x], [r.get("infer_img_s") or 0 for r in live], 0.4, label="inference only")
    a.set_ylabel("img/s")
    a.legend()
    b.bar(list(x), [r.get("map50_95") or 0 for r in live], 0.6, color="tab:green")
    b.set_ylabel("mAP50-95")
    for ax in (a, b):
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save(rep: dict[str, Any], folder: str | Path) -> dict[str, Path]:
    """Write report.json, report.md and report.png into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {"json": folder / "report.json", "markdown": folder / "report.md", "chart": folder / "report.png"}
    files["json"].write_text(json.dumps(rep, indent=2) + "\n")
    files["markdown"].write_text(markdown(rep))
    chart(rep["rows"], files["chart"], f"yolopt prune: {rep['original']} ({rep['machine']})")
    return files
