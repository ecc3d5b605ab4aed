"""The quantization report: size, speed, latency and mAP before/after, per-class AP changes, layers left float."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable


def model_bytes(path: Path) -> int:
    """Bytes of a model on disk with the weights beside it (an IR's .xml + .bin, NCNN's .param + .bin)."""
    from ..export.files import model_files

    return sum(p.stat().st_size for p in model_files(path) if p.exists())


#: How the report's speed rows are measured (``yolopt bench``'s way), said in the report itself.
SPEED_METHOD = ("yolopt's engine as `yolopt predict` runs it (default batch {batch}, the backend's default "
                "streams: {streams} calls in flight), conf 0.25, {images} images repeated for at least {seconds:g} s "
                "after a warm-up; inference only: the backend alone on the same letterboxed images; each model "
                "measured {rounds} times alternating with the other, the best run kept")


def bench_model(path: Path, backend: str, paths: list[Path], imgsz: int, precision: str, seconds: float,
                inputs: list | None = None) -> dict[str, Any]:
    """End-to-end and inference-only img/s and per-image latency of one model, measured as ``yolopt bench`` does.

    ``inputs``: the images already letterboxed (:func:`yolopt.data.inputs.load_inputs`), to decode them once
    for several models.
    """
    from ..backends.base import concurrency
    from ..bench.runner import bench_one
    from ..data.inputs import load_inputs
    from .scoring import detector

    det = detector(path, backend, precision, imgsz=imgsz, conf=0.25)  # the engine's defaults: batch, streams
    batch = det.resolve_batch()
    inputs = load_inputs(paths, imgsz) if inputs is None else inputs
    res, _ = bench_one(det, paths, batch, inputs, precision=precision, min_seconds=seconds)
    return {"e2e_img_s": res.e2e_img_s, "infer_img_s": res.infer_img_s, "latency_ms": res.latency_ms,
            "images": res.images, "batch": batch, "streams": concurrency(det.backend)}


def compare_speed(baseline: Path, quantized: Path, backend: str, paths: list[Path], imgsz: int, precision: str,
                  seconds: float = 10.0, rounds: int = 2, say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """FP32 vs ``quantized`` speed, each measured ``rounds`` times alternating (load drifts hit both), best kept."""
    from ..data.inputs import load_inputs

    inputs = load_inputs(paths, imgsz)  # decoded once, for every inference-only run
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for _ in range(rounds):
        for key, path, prec in (("before", baseline, "fp32"), ("after", quantized, precision)):
            runs[key].append(bench_model(path, backend, paths, imgsz, prec, seconds, inputs))
            say(f"  {path.name} ({prec}): {runs[key][-1]['e2e_img_s']} img/s end to end, "
                f"{runs[key][-1]['infer_img_s']} inference only")
    best = {k: max(v, key=lambda r: r["e2e_img_s"]) for k, v in runs.items()}
    best_infer = {k: max(r["infer_img_s"] for r in v) for k, v in runs.items()}
    for k in best:
        best[k] = {**best[k], "infer_img_s": best_infer[k]}
    b, a = best["before"], best["after"]
    return {"backend": backend, "batch": b["batch"], "images": len(paths), "seconds": seconds, "rounds": rounds,
            "method": SPEED_METHOD.format(batch=b["batch"], streams=b["streams"], images=len(paths), seconds=seconds,
                                          rounds=rounds),
            "before": b, "after": a, "e2e_speedup": round(a["e2e_img_s"] / b["e2e_img_s"], 3),
            "infer_speedup": round(a["infer_img_s"] / b["infer_img_s"], 3)}


def _scored(ap: float | None) -> bool:
    """An AP that exists (None or NaN: the class has no ground truth here)."""
    return ap is not None and ap == ap


def per_class_changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """Per-class AP50-95 after minus before, every scored class, largest absolute change first."""
    a = {c.category_id: c for c in after.per_class}
    rows = []
    for c in before.per_class:
        d = a.get(c.category_id)
        if d is None or not (_scored(c.ap50_95) and _scored(d.ap50_95)):
            continue
        rows.append({"class": c.name, "instances": c.instances, "ap_before": round(c.ap50_95, 4),
                     "ap_after": round(d.ap50_95, 4), "change": round(d.ap50_95 - c.ap50_95, 4)})
    rows.sort(key=lambda r: -abs(r["change"]))
    return rows


def build_report(*, baseline: Path, quantized: Path, backend: str, precision: str, run_precision: str, score: Any,
                 base_map: float | None, base_metrics: Any, after: tuple[float, Any] | None, bench_paths: list[Path],
                 imgsz: int, float_layers: list[str], notes: list[str], accuracy: dict[str, Any],
                 say: Callable[[str], None], bench_seconds: float = 10.0) -> dict[str, Any]:
    """The report as a JSON-able dict (scores ``quantized`` unless ``after`` already holds its score)."""
    rep: dict[str, Any] = {
        "backend": backend, "precision": precision, "run_precision": run_precision,
        "baseline": str(baseline), "model": str(quantized),
        "size_bytes": {"before": model_bytes(baseline), "after": model_bytes(quantized)},
        "layers_float": float_layers, "accuracy_control": accuracy, "notes": notes,
    }
    if score is not None:
        if after is None:
            say(f"scoring {precision} on {score.data} ...")
            after = score(quantized, run_precision)
        q_map, q_metrics = after
        rep["val"] = str(score.data)
        rep["map50_95"] = {"before": round(base_map, 4), "after": round(q_map, 4)}  # type: ignore[arg-type]
        rep["map50"] = {"before": round(base_metrics.map50, 4), "after": round(q_metrics.map50, 4)}
        rep["drop"] = round(base_map - q_map, 4)  # type: ignore[operator]
        rep["per_class"] = per_class_changes(base_metrics, q_metrics)
    if bench_paths:
        say(f"benchmarking FP32 and {precision} ({backend}, {len(bench_paths)} images, >= {bench_seconds:g} s per run, "
            "2 alternating runs each) ...")
        rep["speed"] = compare_speed(baseline, quantized, backend, bench_paths, imgsz, run_precision, bench_seconds,
                                     say=say)
    return rep


def rows(rep: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, before, after, change) rows for the terminal and Markdown tables."""
    s = rep["size_bytes"]
    out = [("model size (MB)", f"{s['before'] / 2**20:.2f}", f"{s['after'] / 2**20:.2f}",
            f"{s['after'] / s['before']:.1%}")]
    for key, name in (("map50_95", "mAP50-95"), ("map50", "mAP50")):
        if key in rep:
            v = rep[key]
            out.append((name, f"{v['before']:.4f}", f"{v['after']:.4f}", f"{v['after'] - v['before']:+.4f}"))
    if "speed" in rep:
        b, a = rep["speed"]["before"], rep["speed"]["after"]
        for key, name in (("e2e_img_s", "img/s end to end"), ("infer_img_s", "img/s inference only")):
            out.append((name, f"{b[key]:.1f}", f"{a[key]:.1f}", f"{a[key] / b[key]:.2f}x"))
        for q in ("p50", "p95"):
            out.append((f"latency {q} (ms)", f"{b['latency_ms'][q]:.1f}", f"{a['latency_ms'][q]:.1f}",
                        f"{a['latency_ms'][q] / b['latency_ms'][q]:.2f}x"))
    return [("", "FP32", rep["precision"].upper(), "change")] + out


def markdown(rep: dict[str, Any]) -> str:
    """The report as Markdown: summary table, per-class changes, layers kept float, notes."""
    r = rows(rep)
    lines = [f"# yolopt quantize: {rep['precision'].upper()} ({rep['backend']})", "",
             f"Model `{rep['model']}`, from `{rep['baseline']}`."]
    if "val" in rep:
        lines.append(f"mAP on `{rep['val']}`; calibration: {rep.get('calibration', {}).get('images', 0)} images.")
    lines += ["", "| " + " | ".join(r[0]) + " |", "|---|---:|---:|---:|"] + ["| " + " | ".join(x) + " |" for x in r[1:]]
    if "speed" in rep:
        sp = rep["speed"]
        lines += ["", f"Speed ({sp['backend']}): {sp['method']}. Latency is per image, submitted to result."]
    if rep.get("accuracy_control"):
        lines += ["", "Accuracy control: " + ", ".join(f"{k} {v}" for k, v in rep["accuracy_control"].items())]
    if rep.get("per_class"):
        lines += ["", "## Per-class AP50-95 change (largest first)", "", "| class | instances | before | after | change |",
                  "|---|---:|---:|---:|---:|"]
        lines += [f"| {c['class']} | {c['instances']} | {c['ap_before']:.4f} | {c['ap_after']:.4f} | {c['change']:+.4f} |"
                  for c in rep["per_class"]]
    if rep["precision"] == "int8":
        lf = rep["layers_float"]
        lines += ["", f"## Layers kept in float ({len(lf)})", ""] + [f"- `{n}`" for n in lf]
    if rep.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in rep["notes"]]
    return "\n".join(lines) + "\n"


def terminal(rep: dict[str, Any]) -> str:
    """The report as an aligned plain-text table with the top per-class changes and the float layers."""
    r = rows(rep)
    w = [max(len(x[i]) for x in r) for i in range(4)]
    lines = ["  ".join(x[i].ljust(w[i]) if i == 0 else x[i].rjust(w[i]) for i in range(4)) for x in r]
    lines.insert(1, "-" * len(lines[0]))
    if "speed" in rep:
        lines.append(f"speed: {rep['speed']['method']}")
    if rep.get("per_class"):
        lines.append("largest per-class AP50-95 changes: " + ", ".join(
            f"{c['class']} {c['change']:+.4f}" for c in rep["per_class"][:5]))
    if rep["precision"] == "int8":
        lf = rep["layers_float"]
        lines.append(f"layers kept in float ({len(lf)}): " + (", ".join(lf[:6]) + (" ..." if len(lf) > 6 else "")))
    return "\n".join(lines)


def save_report(rep: dict[str, Any], model: Path, say: Callable[[str], None] | None = None,
                html: str | Path | None = None) -> dict[str, Path]:
    """Write ``<model stem>.report.json`` and ``.report.md`` beside the model (and ``html`` when given); print the
    table via ``say``."""
    files = {"json": model.with_name(f"{model.stem}.report.json"), "markdown": model.with_name(f"{model.stem}.report.md")}
    files["json"].write_text(json.dumps(rep, indent=2) + "\n")
    files["markdown"].write_text(markdown(rep))
    if html is not None:
        from ..report.quantize_report import quantize_report

        files["html"] = quantize_report(rep).write(html)
    if say:
        say(terminal(rep))
        say("report: " + ", ".join(str(p) for p in files.values()))
    return files
