"""``yolopt quantize``: a thin shell over :func:`yolopt.optimize.quantize` (runtimes are imported lazily)."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import warnings
from typing import Optional

import typer


def _nncf_logs_to_stderr() -> None:
    """NNCF logs to the stdout it saw at import, where this command prints its result: send them to stderr."""
    if importlib.util.find_spec("nncf") is None:
        return
    from nncf.common.logging import logger

    handler = logger.stdout_handler
    with handler.lock:  # not setStream(): it flushes the previous stream, which may be closed by now
        handler.stream = sys.stderr


def quantize_command(
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt/.safetensors, or an FP32 .xml/.onnx."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Calibration images: folder, file or glob "
                                       "(INT8; a few hundred images from the target domain)."),
    out: str = typer.Option(..., "--out", "-o", help="Output .xml (openvino) or .onnx (onnxruntime), or a folder."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", help="Largest mAP50-95 drop allowed (absolute, "
                                             "e.g. 0.003): layers go back to float until it holds. Needs --val."),
    val: Optional[str] = typer.Option(None, "--val", help="Labelled dataset (COCO or YOLO) to score before/after."),
    backend: str = typer.Option("openvino", "--backend", "-b", help="openvino (NNCF) or onnxruntime (QDQ)."),
    precision: str = typer.Option("int8", "--precision", "-p", help="int8, fp16 or bf16 (bf16: openvino only)."),
    imgsz: int = typer.Option(640, help="Letterbox size for calibration, scoring and benchmarking."),
    calib_images: int = typer.Option(300, "--calib-images", help="At most this many calibration images (spread "
                                     "evenly over the set)."),
    batch: int = typer.Option(8, help="Batch size for scoring (speed is measured at the engine's default batch)."),
    bench: bool = typer.Option(True, "--bench/--no-bench", help="Benchmark FP32 vs the result for the report."),
    bench_images: int = typer.Option(100, "--bench-images", help="Images benchmarked (from the calibration set)."),
    bench_seconds: float = typer.Option(10.0, "--bench-seconds", help="Each speed run repeats the images for at "
                                        "least this long (a steady state; FP32 and the result alternate twice)."),
    ranking_subset: int = typer.Option(50, "--ranking-subset", help="Accuracy control (openvino): validation "
                                       "images used to rank layers by their quantization error."),
    max_iterations: int = typer.Option(20, "--max-iterations", help="Accuracy control (openvino): at most this "
                                       "many layer groups reverted to float, each checked on all of --val."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write the report as self-contained HTML here."),
) -> None:
    """Quantize a model (INT8 calibrated on your images, or FP16/BF16) and report size, speed and mAP before/after.

    Exit status: 0 done; 1 --max-drop could not be met (the best model and report are still written); 2 bad input.
    """
    from . import AccuracyBudgetError, QuantizeError, quantize

    if backend == "openvino":
        _nncf_logs_to_stderr()
    try:
        # stdout carries only the result path; NNCF's progress bars and log lines go with ours to stderr
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore", UserWarning)  # the overlap warning is printed by quantize itself
            res = quantize(model, data, out, max_drop=max_drop, val=val, backend=backend, precision=precision,
                           imgsz=imgsz, calib_images=calib_images, batch=batch, bench=bench,
                           bench_images=bench_images, bench_seconds=bench_seconds, ranking_subset=ranking_subset, max_iterations=max_iterations, html=html,
                           log=lambda s: typer.echo(s, err=True))
    except AccuracyBudgetError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)
    except (QuantizeError, ImportError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2)
    typer.echo(str(res.model))
