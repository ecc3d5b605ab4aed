"""``yolopt prune --sweep``: prune to several MACs targets (each fine-tuned with a recovery budget when given) and
draw accuracy against speed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ...optional import require
from .allocate import LEVELS
from .errors import PruneError
from .job import NO_RECOVERY_NOTE, NO_STATS_NOTE, measured_with
from .measure import Measure, Variant, measure
from .pruner import load_detector, prune, ratio_for_macs, scope_name, splittable, stat_batches
from .recover import Recovery, finetune, training_images
from .taylor import labelled_batches, loss_gradients
from .report import md_table, text_table, with_ratios

COLUMNS = ("target MACs", "model", "runtime", "ratio", "MACs kept", "GFLOPs@640", "params (M)", "infer img/s",
           "e2e img/s", "e2e vs original", "mAP50-95", "mAP50")


def parse_targets(text: str, option: str = "--sweep") -> list[float]:
    """``"0.9,0.8,0.7"`` → [0.9, 0.8, 0.7]; each a fraction of the MACs to keep, in (0, 1)."""
    try:
        targets = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as e:
        raise PruneError(f"{option} {text!r}: expected comma-separated fractions such as 0.9,0.8,0.7") from e
    bad = [t for t in targets if not 0 < t < 1]
    if not targets or bad:
        raise PruneError(f"{option} {text!r}: every target must be a fraction of the MACs in (0, 1)")
    return sorted(set(targets), reverse=True)


def run_sweep(model: str | Path, targets: list[float], out: str | Path, m: Measure, *, importance: str = "l1",
              global_pruning: bool = False, round_to: int = 8, stats: str | Path | None = None,
              recovery: Recovery | None = None, sensitivity: bool = False, refit: bool = False,
              max_layer_ratio: float = LEVELS[-1],
              log: Callable[[str], None] = lambda s: None) -> tuple[dict[str, Any], dict[str, Path]]:
    """Prune ``model`` to each MACs target, measure every variant with the original, write sweep.json/.md/.png.

    ``stats``: images (or a labelled dataset) for BN unfolding and bias compensation (and taylor's gradients).
    ``recovery``: each pruned model is fine-tuned with that budget (with its teacher when given) before measuring.
    """
    from ...bench.runner import machine

    require("torch_pruning", "yolopt[prune]", "channel pruning")
    m.check()
    original = load_detector(model)
    if recovery is not None:
        recovery.check(original.names)
        stats = recovery.data
    batches = stat_batches(training_images(stats), m.imgsz) if stats else None
    labelled = labelled_batches(stats, m.imgsz) if importance == "taylor" and stats else None
    tuning: list[dict[str, Any]] = []
    variants, info = [Variant("original", original)], {"original": {"target": 1.0, "ratio": 0.0, "macs_kept": 1.0}}
    net, memo, allocation = splittable(original.net), {}, {}  # trial prunings, sensitivities: shared by the targets
    if labelled:
        loss_gradients(net, labelled, original.spec.nc)  # taylor ranks the trial prunings too
    for t in targets:
        log(f"pruning to {t} of the MACs ...")
        target = {"target_macs": t} if sensitivity else {
            "ratio": ratio_for_macs(net, t, importance, global_pruning, round_to, log, memo)}
        res = prune(original, importance=importance, global_pruning=global_pruning, round_to=round_to,
                    batches=batches, labelled=labelled, refit=refit, sensitivity=sensitivity,
                    max_layer_ratio=max_layer_ratio, log=log, memo=allocation, **target)
        name = f"pruned to {t:g} MACs"
        tuned = res.model
        if recovery is not None:
            tuned, ft = finetune(res.model, recovery, Path(out) / "finetune", f"target{t:g}", recovery.teacher,
                                 recovery.epochs, log)
            tuning.append(ft)
        variants.append(Variant(name, tuned))
        info[name] = {"target": t, "ratio": res.ratio, "macs_kept": round(res.macs_fraction, 4)}
    measured = measured_with(m)
    rows = with_ratios(measure(variants, Path(out) / "sweep", m, log))
    for r in rows:
        r.update(info[r["model"]])
    rep = {"original": str(model), "machine": machine(), "importance": importance,
           "scope": scope_name(sensitivity, global_pruning),
           "round_to": round_to, "refit": refit and bool(batches), "rows": rows,
           "measured": measured, "recovery": recovery_text(recovery), "finetune": tuning,
           "notes": ([] if recovery else [NO_RECOVERY_NOTE]) + ([] if batches else [NO_STATS_NOTE])}
    return rep, save_sweep(rep, out)


def recovery_text(rec: Recovery | None) -> str:
    if rec is None:
        return "none"
    return (f"{rec.epochs} epochs on {rec.data} at {rec.imgsz}" + (f", teacher {rec.teacher}" if rec.teacher else "")
            + (" (label-free)" if rec.label_free else ""))


def sweep_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    return [[f"{r['target']:g}", r["model"], r["runtime"], f"{r['ratio']:.3f}", f"{r['macs_kept']:.3f}",
             f"{r['gflops']:.2f}", f"{r['params'] / 1e6:.3f}", f(r.get("infer_img_s"), ".1f"),
             f(r.get("e2e_img_s"), ".1f"), f(r.get("e2e_vs_original"), ".2f"), f(r.get("map50_95"), ".4f"),
             f(r.get("map50"), ".4f")] for r in rows]


def text(rep: dict[str, Any]) -> str:
    """The sweep as a plain-text table, with the no-recovery note under it."""
    return text_table(COLUMNS, sweep_rows(rep["rows"])) + "\n" + "\n".join(rep["notes"])


def chart(rep: dict[str, Any], path: Path) -> Path:
    """Write :func:`figure` as a PNG."""
    figure(rep).savefig(path, dpi=110)
    return path


def figure(rep: dict[str, Any]) -> Any:
    """mAP50-95 against end-to-end speed-up (left) and against GFLOPs (right), one line per runtime."""
    from ...report.figure import new_figure

    fig = new_figure(10, 4.2, "the sweep chart")
    a, b = fig.subplots(1, 2)
    for rt in dict.fromkeys(r["runtime"] for r in rep["rows"]):
        pts = [r for r in rep["rows"] if r["runtime"] == rt]
        ap = [r.get("map50_95") or 0 for r in pts]
        if all(r.get("e2e_vs_original") for r in pts):
            a.plot([r["e2e_vs_original"] for r in pts], ap, "o-", label=rt)
            for r, y in zip(pts, ap):
                a.annotate(f"{r['macs_kept']:.2f}", (r["e2e_vs_original"], y), fontsize=7)
        b.plot([r["gflops"] for r in pts], ap, "o-", label=rt)
    a.set_xlabel("end-to-end img/s vs original (labels: MACs kept)")
    b.set_xlabel("GFLOPs at 640")
    for ax in (a, b):
        ax.set_ylabel("mAP50-95" + (" (no recovery fine-tuning)" if rep["recovery"] == "none" else
                                    f" after {rep['recovery'].split(' on ')[0]} of fine-tuning"))
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # no speed measured: the left panel has no line
            ax.legend(fontsize=8)
    fig.suptitle(f"yolopt prune sweep: {rep['original']}, {rep['scope']} {rep['importance']} ({rep['machine']})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def save_sweep(rep: dict[str, Any], out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "sweep.json", "markdown": out / "sweep.md", "chart": out / "sweep.png"}
    files["json"].write_text(json.dumps(rep, indent=2) + "\n")
    files["markdown"].write_text(f"# yolopt prune sweep: {rep['original']}\n\nMachine: {rep['machine']}. {rep['measured']} "
                                 f"Recovery: {rep['recovery']}.\n\n"
                                 + md_table(COLUMNS, sweep_rows(rep["rows"])) + "\n\n"
                                 + "\n".join(f"- {n}" for n in rep["notes"]) + "\n")
    chart(rep, files["chart"])
    return files
