"""``yolopt prune``: a thin shell over :func:`run_prune` and :func:`run_sweep` (Torch-Pruning imported lazily)."""

from __future__ import annotations

from typing import Optional

import typer


def prune_command(
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    target_macs: Optional[float] = typer.Option(None, "--target-macs", help="Fraction of the MACs to keep, e.g. 0.7 "
                                                "(the per-layer ratio is searched)."),
    ratio: Optional[float] = typer.Option(None, "--ratio", help="Fraction of each layer's channels to remove."),
    importance: str = typer.Option("l1", "--importance", help="l1 (weight magnitude), bn (BatchNorm scale) or lamp "
                                   "(taylor needs the training loss: with yolopt train)."),
    global_pruning: bool = typer.Option(False, "--global/--per-layer", help="Rank channels across the whole "
                                        "network, or remove the same fraction from every layer."),
    round_to: int = typer.Option(8, "--round-to", help="Keep channel counts multiples of this (fast kernels)."),
    steps: int = typer.Option(1, "--steps", help="Prune in this many steps (importance re-estimated at each)."),
    sweep: Optional[str] = typer.Option(None, "--sweep", help="Comma-separated MACs targets, e.g. 0.9,0.8,0.7,0.6,0.5: "
                                        "the accuracy-vs-speed curve instead of one model."),
    out: str = typer.Option("runs/prune", "--out", "-o", help="Output folder (pruned.safetensors, report.*)."),
    val: Optional[str] = typer.Option(None, "--val", help="Labelled dataset (COCO or YOLO): mAP of every row."),
    bench: Optional[str] = typer.Option(None, "--bench", help="Images (folder, file or glob) to measure img/s on."),
    bench_images: int = typer.Option(100, "--bench-images", help="At most this many of the --bench images."),
    calib: Optional[str] = typer.Option(None, "--calib", help="Calibration images for the openvino-int8 rows."),
    calib_images: int = typer.Option(300, "--calib-images", help="At most this many calibration images."),
    runtimes: str = typer.Option("openvino-fp32,torch-fp32", "--runtimes", help="Rows to measure: openvino-fp32, "
                                 "openvino-int8 (needs --calib), torch-fp32."),
    imgsz: int = typer.Option(640, help="Network input long side for speed and mAP."),
    bench_seconds: float = typer.Option(0.0, "--bench-seconds", help="Each speed run repeats the images for at "
                                        "least this long (0: one pass over them)."),
    rounds: int = typer.Option(2, "--rounds", help="Speed runs per row (interleaved; the best is kept)."),
    fp32: bool = typer.Option(False, "--fp32", help="Store the pruned weights in FP32 instead of FP16."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write the report as self-contained HTML here."),
) -> None:
    """Prune channels (Torch-Pruning) to a MACs target or ratio; report size, GFLOPs, img/s and mAP before/after.

    Recovery fine-tuning (with a teacher) arrives with `yolopt train`: the pruned model here is not fine-tuned.
    Exit status: 0 done; 2 bad input (checked before any work starts).
    """
    from ...errors import OutputError
    from ..calibration import spread
    from ...data.inputs import image_files
    from . import PruneError
    from .job import run_prune
    from .measure import Measure
    from .report import COLUMNS, table_rows, text_table
    from .sweep import parse_targets, run_sweep, text

    say = lambda s: typer.echo(s, err=True)  # noqa: E731
    try:
        missing: list[str] = []
        paths = spread(image_files([bench], missing), bench_images) if bench else None
        if missing:
            raise PruneError(f"--bench: {missing[0]}")
        m = Measure(tuple(r.strip() for r in runtimes.split(",") if r.strip()), paths, val, calib, calib_images,
                    imgsz, bench_seconds, rounds)
        if sweep is not None:
            if ratio is not None or target_macs is not None or steps != 1:
                raise PruneError("--sweep sets the MACs targets itself: leave out --ratio, --target-macs and --steps")
            rep, files = run_sweep(model, parse_targets(sweep), out, m, importance=importance,
                                   global_pruning=global_pruning, round_to=round_to, log=say)
            typer.echo(text(rep))
        else:
            job = run_prune(model, out, m, ratio=ratio, target_macs=target_macs, importance=importance,
                            global_pruning=global_pruning, round_to=round_to, steps=steps, half=not fp32, log=say)
            typer.echo(text_table(COLUMNS, table_rows(job.report["rows"])))
            typer.echo(job.report["notes"][0])
            rep, files = job.report, {"model": job.model_path, **job.files}
        if html:
            from ...report.prune_report import prune_report

            files["html"] = prune_report(rep).write(html)
    except (PruneError, ImportError, OutputError) as e:
        say(f"error: {e}")
        raise typer.Exit(2)
    say("saved " + ", ".join(str(p) for p in files.values()))
