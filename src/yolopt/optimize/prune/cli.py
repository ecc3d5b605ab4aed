"""``yolopt prune``: a thin shell over :func:`run_prune` and :func:`run_sweep` (Torch-Pruning imported lazily)."""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer


def prune_command(
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    target_macs: Optional[float] = typer.Option(None, "--target-macs", help="Fraction of the MACs to keep, e.g. 0.7 "
                                                "(the per-layer ratio is searched)."),
    ratio: Optional[float] = typer.Option(None, "--ratio", help="Fraction of each layer's channels to remove."),
    importance: str = typer.Option("l1", "--importance", help="l1 (weight magnitude), bn (BatchNorm scale), lamp, "
                                   "or taylor (|weight x gradient| of the detection loss on labelled --data)."),
    global_pruning: bool = typer.Option(False, "--global/--per-layer", help="Rank channels across the whole "
                                        "network, or remove the same fraction from every layer."),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="With --target-macs: give each layer the ratio "
                                     "its measured damage per MAC saved earns (needs --data or --calib images)."),
    max_layer_ratio: float = typer.Option(0.75, "--max-layer-ratio", help="With --sensitivity: no layer gives up "
                                          "more than this fraction of its channels (0.125 ... 0.75)."),
    refit: bool = typer.Option(False, "--refit", help="After pruning, re-fit every conv by least squares to "
                               "reproduce the original's outputs on the --data or --calib images."),
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
    bench_seconds: float = typer.Option(10.0, "--bench-seconds", help="Each speed run repeats the images for at "
                                        "least this long (0: one pass over them)."),
    rounds: int = typer.Option(2, "--rounds", help="Speed runs per row (interleaved; the best is kept)."),
    fp32: bool = typer.Option(False, "--fp32", help="Store the pruned weights in FP32 instead of FP16."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Training data for recovery (COCO folder or "
                                       "data.yaml; a folder of unlabeled images with --teacher); its images also "
                                       "give the pruning statistics. Never the set you measure on."),
    finetune_epochs: int = typer.Option(0, "--finetune-epochs", help="Fine-tune this many epochs after pruning: "
                                        "without the teacher and, with --teacher, with it (two report rows)."),
    step_epochs: int = typer.Option(1, "--step-epochs", help="With --steps K: fine-tune this many epochs between "
                                    "steps (0: none)."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Distil the fine-tuning from this model; 'auto': "
                                          "the unpruned --model."),
    ft_imgsz: Optional[int] = typer.Option(None, "--ft-imgsz", help="Fine-tuning image size (default: --imgsz)."),
    ft_batch: int = typer.Option(16, "--ft-batch", help="Fine-tuning batch size."),
    ft_workers: int = typer.Option(2, "--ft-workers", help="Fine-tuning data loader workers."),
    ft_threads: Optional[int] = typer.Option(None, "--ft-threads", help="torch threads while fine-tuning."),
    kd_cls: float = typer.Option(1.0, "--kd-cls", help="Teacher run: weight of class-logit distillation."),
    kd_dfl: float = typer.Option(1.0, "--kd-dfl", help="Teacher run: weight of box-distribution distillation."),
    ft_lr0: Optional[float] = typer.Option(None, "--ft-lr0", help="Fine-tune with AdamW at this learning rate "
                                           "(default: --optimizer auto's choice, AdamW at 0.002 * 5 / (4 + nc))."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write the report as self-contained HTML here."),
) -> None:
    """Prune channels (Torch-Pruning) to a MACs target or ratio; report size, GFLOPs, img/s and mAP before/after.

    With --data and --finetune-epochs the pruned model is fine-tuned through `yolopt train` (with --teacher:
    also distilled, both rows reported; --steps K fine-tunes between steps too). Exit status: 0 done; 2 bad input (checked before any work starts).
    """
    from ...errors import OutputError
    from ..calibration import spread
    from ...data.inputs import image_files
    from . import PruneError
    from .job import run_prune
    from .measure import Measure
    from .recover import Recovery
    from .report import COLUMNS, table_rows, text_table
    from .sweep import parse_targets, run_sweep, text

    say = lambda s: typer.echo(s, err=True)  # noqa: E731
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)  # fine-tuning's epoch lines
    try:
        missing: list[str] = []
        paths = spread(image_files([bench], missing), bench_images) if bench else None
        if missing:
            raise PruneError(f"--bench: {missing[0]}")
        m = Measure(tuple(r.strip() for r in runtimes.split(",") if r.strip()), paths, val, calib, calib_images,
                    imgsz, bench_seconds, rounds)
        rec = None
        if finetune_epochs or teacher:
            if not data or not finetune_epochs:
                raise PruneError("recovery needs both --data (training data) and --finetune-epochs N")
            lr = {"optimizer": "AdamW", "lr0": ft_lr0} if ft_lr0 else {}
            rec = Recovery(data, finetune_epochs, model if teacher == "auto" else teacher, step_epochs,
                           ft_imgsz or imgsz, ft_batch,
                           {"workers": ft_workers, "threads": ft_threads, "kd_cls": kd_cls, "kd_dfl": kd_dfl, **lr})
        if sweep is not None:
            if ratio is not None or target_macs is not None or steps != 1:
                raise PruneError("--sweep sets the MACs targets itself: leave out --ratio, --target-macs and --steps")
            rep, files = run_sweep(model, parse_targets(sweep), out, m, importance=importance,
                                   global_pruning=global_pruning, round_to=round_to, stats=data or calib,
                                   recovery=rec, sensitivity=sensitivity, refit=refit,
                                   max_layer_ratio=max_layer_ratio, log=say)
            typer.echo(text(rep))
        else:
            job = run_prune(model, out, m, ratio=ratio, target_macs=target_macs, importance=importance,
                            global_pruning=global_pruning, round_to=round_to, steps=steps, half=not fp32,
                            recovery=rec, stats=data or calib, sensitivity=sensitivity, refit=refit,
                            max_layer_ratio=max_layer_ratio, log=say)
            typer.echo(text_table(COLUMNS, table_rows(job.report["rows"])))
            for note in job.report["notes"]:
                typer.echo(note)
            rep, files = job.report, {"model": job.model_path, **job.files}
        if html:
            from ...report.prune_report import prune_report

            files["html"] = prune_report(rep).write(html)
    except (PruneError, ImportError, OutputError) as e:
        say(f"error: {e}")
        raise typer.Exit(2)
    say("saved " + ", ".join(str(p) for p in files.values()))
