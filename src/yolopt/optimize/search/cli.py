"""``yolopt optimize``: a thin shell over :func:`yolopt.optimize.search.optimize`."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Optional

import typer


def _sizes(text: str) -> tuple[int, int, int]:
    try:
        parts = [int(v) for v in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3):
        raise typer.BadParameter(f"--sizes takes LARGEST:SMALLEST[:STEP], e.g. 640:320:32, got {text!r}")
    return (parts[0], parts[1], parts[2] if len(parts) == 3 else 32)


def _list(text: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in text.split(",") if v.strip()] if text else None


def _levels(text: str) -> tuple[float, ...]:
    from ..prune import PruneError
    from ..prune.sweep import parse_targets
    from . import SearchError

    try:
        return tuple(parse_targets(text, "--prune"))
    except PruneError as e:
        raise SearchError(str(e)) from None


def optimize_command(
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    val: str = typer.Option(..., "--val", help="Labelled dataset (COCO or YOLO) the accuracy budget is measured on; "
                            "a sample of its images is used for speed."),
    calib: Optional[str] = typer.Option(None, "--calib", help="Calibration images for INT8 (folder, file or glob; "
                                        "not the validation images). Without it INT8 is not searched."),
    max_drop: float = typer.Option(0.01, "--max-drop", help="Largest mAP50-95 drop from PyTorch FP32 allowed "
                                   "(absolute); 0 keeps FP32-exact results."),
    objective: str = typer.Option("throughput", "--objective", help="throughput (end-to-end img/s) or latency "
                                  "(p50 per image, batch 1)."),
    latency_budget: Optional[float] = typer.Option(None, "--latency-budget", help="Only configs whose p50 latency "
                                                   "per image is at most this many ms."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="Stop measuring after this many "
                                                "minutes and choose from what was measured."),
    out: str = typer.Option("deploy", "--out", "-o", help="Folder for the model, deploy.json, candidates.csv, "
                            "report.html."),
    backends: Optional[str] = typer.Option(None, "--backends", help="Comma-separated backends (default: every "
                                           "installed one; tensorrt only with a GPU)."),
    precisions: Optional[str] = typer.Option(None, "--precisions", help="Comma-separated subset of fp32, bf16, "
                                             "fp16, int8 (default: all this machine runs fast)."),
    sizes: str = typer.Option("640:320:32", "--sizes", help="Input sizes LARGEST:SMALLEST:STEP (long side, rect "
                              "letterbox)."),
    sample: int = typer.Option(40, "--sample", help="Validation images the speed runs use."),
    screen_seconds: float = typer.Option(3.0, "--screen-seconds", help="Seconds of each screening speed run."),
    final_seconds: float = typer.Option(8.0, "--final-seconds", help="Seconds of each finalist speed run."),
    rounds: int = typer.Option(2, "--rounds", help="Alternating rounds of the finalists' speed runs."),
    calib_images: int = typer.Option(300, "--calib-images", help="At most this many calibration images."),
    pruned: Optional[str] = typer.Option(None, "--pruned", help="Comma-separated pruned model files of --model "
                                         "(`yolopt prune`, e.g. --sweep), searched as more model variants "
                                         "(never exact)."),
    prune: Optional[str] = typer.Option(None, "--prune", help="Comma-separated MACs levels, e.g. 0.8,0.7: prune "
                                        "--model to each (sensitivity allocation), recover it, and search it like "
                                        "a --pruned file (made once, kept in the cache)."),
    prune_data: Optional[str] = typer.Option(None, "--prune-data", help="Images pruning measures on and recovery "
                                             "fine-tunes on: a labelled dataset, or a folder of unlabelled images "
                                             "(the teacher supervises). Never the --val images."),
    prune_epochs: int = typer.Option(1, "--prune-epochs", help="Recovery budget: fine-tuning epochs after each "
                                     "pruning (0: none)."),
    prune_teacher: str = typer.Option("auto", "--prune-teacher", help="Distil the recovery from this model; "
                                      "'auto': the unpruned --model; 'none': labels only."),
    prune_imgsz: Optional[int] = typer.Option(None, "--prune-imgsz", help="Image size of pruning's statistics and "
                                              "of fine-tuning (default: the largest --sizes)."),
    prune_batch: int = typer.Option(16, "--prune-batch", help="Fine-tuning batch size."),
    prune_workers: int = typer.Option(2, "--prune-workers", help="Fine-tuning data loader workers."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Reuse and keep measurements in the cache."),
    cache_dir: Optional[str] = typer.Option(None, "--cache-dir", help="Where measurements and INT8 files are kept "
                                            "(default: optimize/ in yolopt's cache folder, $YOLOPT_CACHE)."),
) -> None:
    """Find the fastest deployment within an accuracy budget: backend x precision x input size x pruning level
    x batch/threads.

    Writes the model, deploy.json (for predict/serve --recipe), candidates.csv and report.html to --out.
    Exit status: 0 found; 1 no configuration within the budget (table and report still written); 2 bad input.
    """
    from ..cli import _nncf_logs_to_stderr
    from . import SearchError, optimize
    from .levels import PruneLevels

    say = (lambda s: typer.echo(s, err=True))
    _nncf_logs_to_stderr()
    logging.getLogger("nncf").setLevel(logging.WARNING)  # its per-node INFO lines would bury the progress lines
    try:
        levels = None
        if prune is not None:
            levels = PruneLevels(_levels(prune), prune_data, prune_epochs,
                                 None if prune_teacher == "none" else prune_teacher,
                                 prune_imgsz or _sizes(sizes)[0], prune_batch, prune_workers)
        elif prune_data is not None:
            raise SearchError("--prune-data is for --prune LEVELS: give the MACs levels to prune to")
        with contextlib.redirect_stdout(sys.stderr):  # runtimes' own progress output stays off stdout
            res = optimize(model, val, calib, out, max_drop=max_drop, objective=objective,
                           latency_budget=latency_budget, time_budget=time_budget, backends=_list(backends),
                           precisions=_list(precisions), imgsz=_sizes(sizes), sample=sample,
                           screen_seconds=screen_seconds, final_seconds=final_seconds, rounds=rounds,
                           calib_images=calib_images, pruned=_list(pruned), prune=levels, cache=cache,
                           cache_root=cache_dir, say=say)
    except SearchError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    say(f"searched in {res.seconds:.0f} s ({res.cache_hits} measurements from the cache, {res.cache_misses} new)")
    say("wrote " + ", ".join(str(p) for p in res.files.values()))
    if res.winner is None:
        typer.echo(f"error: {res.why}", err=True)
        raise typer.Exit(1)
    say(res.why.replace("**", ""))
    if res.bought:
        say(res.bought.replace("**", ""))
    typer.echo(str(res.files["recipe"]))
