"""The ``yolopt`` command: a thin shell over the library (every command is a Python call too)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .cli_guard import command

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Fast, exact YOLOv8 object detection.")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Fast, exact YOLOv8 object detection."""


SAMPLES = Path(__file__).resolve().parent / "assets" / "samples"


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _parse_classes(classes: Optional[str]) -> Optional[list[int]]:
    if not classes:
        return None
    try:
        return [int(c) for c in classes.replace(" ", "").split(",") if c]
    except ValueError:
        raise typer.BadParameter(f"--classes takes comma-separated class ids, got {classes!r}")


def _parse_batch(batch: str) -> int | str:
    if batch == "auto":
        return batch
    try:
        return int(batch)
    except ValueError:
        raise typer.BadParameter(f"--batch takes a positive integer or 'auto', got {batch!r}")


def _with_recipe(ctx: typer.Context, recipe: Optional[str], values: dict) -> dict:
    """``values`` with a deploy.json's settings for every option not given on the command line (flags win)."""
    if not recipe:
        return values
    from .optimize.search.recipe import load_recipe

    out = dict(values)
    renames = {"batch": "max_batch"} if "max_batch" in values else {}  # serve batches up to the recipe's batch
    for name, value in load_recipe(recipe).items():
        name = renames.get(name, name)
        # by name: typer may carry its own copy of click's ParameterSource enum
        if name in out and getattr(ctx.get_parameter_source(name), "name", "DEFAULT") in ("DEFAULT", "DEFAULT_MAP"):
            out[name] = str(value) if isinstance(out[name], str) and not isinstance(value, str) else value
    return out


RECIPE_HELP = "A deploy.json from `yolopt optimize`: its model, backend, precision, size, thresholds and layout " \
              "are the defaults; options given here override them."


@command(app)
def version() -> None:
    """Print the yolopt version."""
    typer.echo(__version__)


@command(app)
def predict(
    ctx: typer.Context,
    sources: List[str] = typer.Argument(None, help="Image files, folders, glob patterns or videos (default: bundled samples)."),
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    backend: str = typer.Option("auto", help="auto (an exported file's runtime; for a model name or .pt the fastest "
                                 "installed backend exact at FP32 here, measured once), torch, onnxruntime, openvino "
                                 "or tensorrt."),
    imgsz: int = typer.Option(640, help="Long side of the network input (multiple of 32)."),
    conf: float = typer.Option(0.25, help="Minimum confidence."),
    iou: float = typer.Option(0.7, help="NMS IoU threshold."),
    max_det: int = typer.Option(300, "--max-det", help="Maximum detections per image."),
    classes: Optional[str] = typer.Option(None, help="Only these class ids, comma-separated (e.g. 0,2)."),
    batch: str = typer.Option("1", help="Images per inference call, or 'auto' for the fastest that fits in "
                              "memory (results do not depend on it)."),
    workers: Optional[int] = typer.Option(None, help="Decode worker threads (default: min(4, CPUs))."),
    precision: Optional[str] = typer.Option(None, help="fp32, fp16 or bf16 (default: the model file's; fp32)."),
    threads: Optional[int] = typer.Option(None, help="Inference threads of the backend (default: all cores)."),
    fmt: str = typer.Option("jsonl", "--format", "-f", help="Output format: jsonl, coco, csv or yolo."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Output file (directory for yolo); stdout when omitted."),
    save_images: Optional[str] = typer.Option(None, "--save-images", help="Write annotated images/videos to this folder."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    max_megapixels: float = typer.Option(100.0, "--max-megapixels", help="Largest image, read from its header "
                                         "before decoding; larger ones are refused as failed inputs."),
    resume: bool = typer.Option(False, "--resume", help="Skip inputs already in the --out JSONL file and append "
                                "the rest (restart a killed job: nothing lost, nothing twice)."),
    streams: Optional[int] = typer.Option(None, help="Concurrent inference calls of the backend (default: one "
                                          "per core on CPU)."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help=RECIPE_HELP),
) -> None:
    """Detect objects in images and videos; results stream out as they are produced."""
    from .data.sources import pending
    from .detector import Detector
    from .engine import StageTimes
    from .io import open_sink
    from .io.draw import AnnotatedWriter

    v = _with_recipe(ctx, recipe, dict(model=model, backend=backend, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                                       batch=batch, precision=precision, threads=threads, streams=streams))
    model, backend, imgsz, conf, iou, max_det, batch, precision, threads, streams = v.values()
    if not sources:
        sources = [str(SAMPLES)]
    det = Detector(model, backend, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                   classes=_parse_classes(classes), batch=_parse_batch(batch), workers=workers,
                   max_pixels=int(max_megapixels * 1e6), precision=precision, threads=threads, streams=streams)
    if det.batch == "auto":
        _err(f"batch auto: {det.resolve_batch()}")
    sink = open_sink(fmt, out, resume=resume)
    done = getattr(sink, "done", set())
    if done:
        _err(f"resume: {len(done)} inputs already in {out}, skipping them")
    drawer = AnnotatedWriter(save_images) if save_images else None
    show = sys.stderr.isatty() if progress is None else progress
    failed: list[str] = []
    n = 0
    times = StageTimes()
    t0 = time.perf_counter()
    bar = None
    if show:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from .data.sources import count_items

        total = count_items(sources) if not done else None
        bar = Progress(SpinnerColumn(), BarColumn(), TextColumn("{task.completed}/{task.total} inputs" if total else
                       "{task.completed} inputs"), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                       transient=True, console=Console(stderr=True))
        task = bar.add_task("predict", total=total, rate="")
        bar.start()
    try:
        for r in det.predict(pending(sources, done) if done else sources, keep_images=drawer is not None,
                             times=times):
            n += 1
            if drawer:
                r.error = r.error or drawer.write(r)
                r.image = None
            sink.write(r)
            if r.error:
                failed.append(r.error)
            if bar:
                bar.update(task, advance=1, rate=f"{n / (time.perf_counter() - t0):.1f} img/s")
    finally:
        if bar:
            bar.stop()
        sink.close()
        if drawer:
            drawer.close()
    dt = time.perf_counter() - t0
    if n and len(failed) == n:
        _err(f"{n} inputs in {dt:.2f}s on {det.backend.name} ({det.backend_reason}): all {n} failed")
    else:
        _err(f"{n} inputs in {dt:.2f}s ({n / dt if dt else 0:.1f} img/s) on {det.backend.name} "
             f"({det.backend_reason}): {n - len(failed)} ok, {len(failed)} failed")
        stage = ", ".join(f"{k} {v:.1f}" for k, v in times.per_image_ms().items() if v)
        if stage:
            _err(f"per image (ms): {stage}")
    for msg in failed:
        _err(f"  failed: {msg}")
    if failed:
        raise typer.Exit(1)


@command(app)
def bench(
    sources: List[str] = typer.Argument(..., help="Image folder(s), files or globs to benchmark on."),
    models: List[str] = typer.Option(["yolov8n"], "--model", "-m", help="Model name or file; repeat it to compare "
                                     "models (e.g. an FP32 and an INT8 .xml)."),
    backends: str = typer.Option("torch", "--backends", "-b", help="Comma-separated backends to compare "
                                 "(auto: the one each model file runs on)."),
    batches: str = typer.Option("1,8", "--batches", help="Comma-separated batch sizes."),
    precisions: str = typer.Option("fp32", "--precisions", help="Comma-separated precisions (fp32, fp16, bf16)."),
    conf: float = typer.Option(0.25, help="Confidence threshold of the timed runs."),
    imgsz: int = typer.Option(640, help="Network input long side."),
    workers: Optional[int] = typer.Option(None, help="Decode worker threads."),
    annotations: Optional[str] = typer.Option(None, help="COCO instances JSON: adds mAP (at --conf) per row."),
    limit: Optional[int] = typer.Option(None, help="Benchmark only the first N images."),
    save_dir: str = typer.Option("runs/bench", "--save-dir", help="Where bench.json/.csv/.md/.png go."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write a self-contained HTML report here."),
) -> None:
    """Compare backends x batch sizes x precisions: img/s end to end and inference only, latency, RSS, mAP."""
    from .bench import print_table, run_bench, save
    from .bench.runner import machine

    def ints(s: str) -> list[int]:
        return [int(v) for v in s.split(",") if v]

    scorer = None
    if annotations:
        from .eval.coco import make_scorer  # COCO scoring via pycocotools / faster-coco-eval

        scorer = make_scorer(annotations)
    results = []
    for model in models:
        try:
            results += run_bench(model, sources, backends.split(","), ints(batches), precisions.split(","), conf,
                                 imgsz, workers, scorer, log=_err, limit=limit)
        except (ValueError, FileNotFoundError, ImportError) as e:
            _err(f"error: {model}: {e}")
            raise typer.Exit(2)
    if not results:
        _err("error: no backend and precision combination ran (see the skipped lines above)")
        raise typer.Exit(2)
    print_table(results)
    names = ", ".join(models)
    meta = {"models": models, "sources": sources, "conf": conf, "imgsz": imgsz, "machine": machine(),
            "title": f"yolopt bench: {names} ({machine()})", "backends": backends, "batches": batches,
            "precisions": precisions, "limit": limit, "annotations": annotations}
    paths = save(results, save_dir, meta)
    if html:
        from .report.bench_report import bench_report

        paths["html"] = bench_report(results, meta).write(html)
    _err("saved " + ", ".join(str(p) for p in paths.values()))


@command(app)
def profile(
    sources: List[str] = typer.Argument(..., help="Images, folders or globs to run the pipeline over."),
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name or file."),
    backend: str = typer.Option("auto", help="auto (from the model file), torch, onnxruntime, openvino or tensorrt."),
    batch: int = typer.Option(1, help="Batch size."),
    workers: Optional[int] = typer.Option(None, help="Decode worker threads."),
    conf: float = typer.Option(0.25, help="Confidence threshold."),
    max_det: int = typer.Option(300, "--max-det", help="Maximum detections per image."),
    imgsz: int = typer.Option(640, help="Network input long side."),
    limit: Optional[int] = typer.Option(None, help="Profile only the first N images."),
    save_dir: str = typer.Option("runs/profile", "--save-dir", help="Where profile.json/.png and the trace go."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write a self-contained HTML report here."),
) -> None:
    """Where the time goes (per stage, per queue, per layer, per core) and what to change."""
    from .profile import print_report, profile as run_profile, save

    rep = run_profile(sources, model, backend, batch, workers, conf, max_det, imgsz, limit, save_dir)
    print_report(rep)
    save(rep, save_dir)
    if html:
        from .report.profile_report import profile_report

        rep.files["html"] = str(profile_report(rep, sources).write(html))
    _err("saved " + ", ".join(dict.fromkeys(str(p) for p in rep.files.values() if str(p))))


@command(app)
def convert(
    model: str = typer.Argument(..., help="Ultralytics .pt checkpoint (loaded without executing it)."),
    out: str = typer.Option(..., "--out", "-o", help="Output .safetensors path."),
    fp32: bool = typer.Option(False, help="Store FP32 weights instead of FP16."),
) -> None:
    """Convert an Ultralytics checkpoint to yolopt's safetensors format."""
    from .model import load_model, save_yolopt

    m = load_model(model)
    path = save_yolopt(m, out, half=not fp32)
    typer.echo(f"wrote {path} (YOLOv8{m.spec.scale}, {m.spec.nc} classes)")


@command(app)
def serve(
    ctx: typer.Context,
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    backend: str = typer.Option("auto", help="auto (from the model file), torch, onnxruntime, openvino or tensorrt."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    imgsz: int = typer.Option(640, help="Long side of the network input (multiple of 32)."),
    conf: float = typer.Option(0.25, help="Default minimum confidence (a request may send its own)."),
    iou: float = typer.Option(0.7, help="Default NMS IoU threshold."),
    max_det: int = typer.Option(300, "--max-det", help="Default maximum detections per image."),
    max_batch: int = typer.Option(16, "--max-batch", help="Most images per inference batch."),
    max_delay_ms: float = typer.Option(5.0, "--max-delay-ms", help="Longest wait for batch mates while idle."),
    max_queue: int = typer.Option(256, "--max-queue", help="Requests admitted at once; beyond it, 503."),
    timeout_ms: float = typer.Option(10000.0, "--timeout-ms", help="Per-request deadline; past it, 504."),
    max_body_mb: float = typer.Option(20.0, "--max-body-mb", help="Largest request body; beyond it, 413."),
    max_megapixels: float = typer.Option(100.0, "--max-megapixels", help="Largest image (from its header, before "
                                         "decoding); beyond it, 413."),
    header_timeout_s: float = typer.Option(10.0, "--header-timeout-s", help="Seconds a connection has to send "
                                           "complete request headers; then it is closed."),
    max_header_kb: int = typer.Option(64, "--max-header-kb", help="Largest request line + headers; beyond it, 400."),
    workers: int = typer.Option(2, help="Decode/letterbox/NMS threads."),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log", help="Log every request."),
    precision: Optional[str] = typer.Option(None, help="fp32, fp16 or bf16 (default: the model file's; fp32)."),
    streams: Optional[int] = typer.Option(None, help="Concurrent inference calls of the backend."),
    threads: Optional[int] = typer.Option(None, help="Threads per inference call."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help=RECIPE_HELP + " Its batch is --max-batch."),
) -> None:
    """Serve the model over HTTP with dynamic batching (POST /v1/detect, /health/*, /metrics, /v1/model)."""
    from .serve.app import ServeConfig
    from .serve.server import run_server

    v = _with_recipe(ctx, recipe, dict(model=model, backend=backend, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det,
                                       max_batch=max_batch, precision=precision, streams=streams, threads=threads))
    cfg = ServeConfig(v["model"], v["backend"], v["imgsz"], v["conf"], v["iou"], v["max_det"], host, port,
                      v["max_batch"], max_delay_ms, max_queue, timeout_ms, max_body_mb, workers, log_level, access_log,
                      max_megapixels, header_timeout_s, max_header_kb, v["precision"], v["streams"], v["threads"])
    raise typer.Exit(run_server(cfg))


@command(app, "export")
def export_cmd(
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx, openvino, engine (TensorRT), tflite, ncnn or coreml."),
    out: str = typer.Option(..., "--out", "-o", help="Output file (.onnx, .xml, .engine, .tflite, .param, .mlpackage)."),
    half: bool = typer.Option(False, "--half", help="FP16 weights (OpenVINO: compressed weights; TensorRT: FP16 kernels)."),
    imgsz: Optional[int] = typer.Option(None, help="Default image size in the metadata (TensorRT: largest input side; "
                                        "tflite/ncnn/coreml: the fixed input square)."),
    int8: bool = typer.Option(False, "--int8", help="tflite: full-integer INT8 calibrated on --data; coreml: INT8 weights."),
    data: Optional[str] = typer.Option(None, "--data", help="Calibration images for --int8 (folder, files or glob)."),
    nms: bool = typer.Option(False, "--nms", help="tflite/ncnn/coreml: end the graph in decoding + per-class NMS "
                             "(output: max-det rows of x1, y1, x2, y2, score, class)."),
    conf: float = typer.Option(0.25, help="--nms: score threshold baked into the graph."),
    iou: float = typer.Option(0.7, help="--nms: IoU threshold baked into the graph."),
    max_det: int = typer.Option(300, "--max-det", help="--nms: rows of the output."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="tflite/ncnn/coreml: check the file against "
                                "PyTorch FP32 on the bundled samples (exit 1 and a .unverified file when over tolerance)."),
) -> None:
    """Export a model: ONNX, OpenVINO IR, TensorRT engine (dynamic shapes), or TFLite, NCNN, CoreML (fixed square)."""
    from .export import MOBILE, export

    mobile = {}
    if fmt in MOBILE:
        mobile = {"int8": int8, "data": data, "verify": verify, "nms": {"conf": conf, "iou": iou, "max_det": max_det}
                  if nms else None}
    elif int8 or data or nms:
        _err(f"error: --int8, --data and --nms apply to {', '.join(MOBILE)} (for ONNX/OpenVINO INT8: yolopt quantize)")
        raise typer.Exit(2)
    t0 = time.perf_counter()
    path = export(model, fmt, out, half=half, imgsz=imgsz, **mobile)  # errors: cli_guard (VerificationError: 1)
    typer.echo(f"wrote {path} in {time.perf_counter() - t0:.1f}s")


@command(app, "val")
def val_cmd(
    data: str = typer.Argument(..., help="COCO dataset (folder or instances JSON) or YOLO dataset (data.yaml or its folder)."),
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, .pt checkpoint or .safetensors file."),
    predictions: Optional[str] = typer.Option(None, "--predictions", help="Score this COCO results file (.json, .json.gz) instead of running a model."),
    split: str = typer.Option("val", help="Split of a YOLO data.yaml to evaluate."),
    images: Optional[str] = typer.Option(None, help="Images folder of a COCO JSON (default: found beside it)."),
    batch: int = typer.Option(8, help="Images per inference batch (results do not depend on it)."),
    conf: float = typer.Option(0.001, help="Minimum confidence of the predictions (COCO practice: 0.001)."),
    iou: float = typer.Option(0.7, help="NMS IoU threshold."),
    max_det: int = typer.Option(300, "--max-det", help="Maximum predictions per image (scoring keeps 100 per class)."),
    imgsz: int = typer.Option(640, help="Long side of the network input (multiple of 32)."),
    backend: str = typer.Option("auto", help="auto (from the model file), torch, onnxruntime, openvino or tensorrt."),
    workers: Optional[int] = typer.Option(None, help="Decode worker threads (default: min(4, CPUs))."),
    precision: Optional[str] = typer.Option(None, help="fp32, fp16 or bf16 (default: the model file's; fp32)."),
    save_dir: str = typer.Option("runs/val", "--save-dir", help="Where metrics.json, predictions.json and pr_curve.png go."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the precision-recall curve PNG."),
    all_classes: bool = typer.Option(False, "--all-classes", help="Also list classes with no ground truth."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
    html: Optional[str] = typer.Option(None, "--html", help="Also write a self-contained HTML report here (PR curves, "
                                       "confusion matrix, per-class AP)."),
) -> None:
    """COCO mAP (pycocotools) of a model on a COCO or YOLO dataset, or of saved detections (--predictions)."""
    from .eval import val
    from .eval.report import format_table

    bar = None
    if (sys.stderr.isatty() if progress is None else progress) and predictions is None:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(transient=True, console=Console(stderr=True))
        task = bar.add_task("val", total=None)
        bar.start()
    try:
        res = val(data, model, predictions=predictions, split=split, images=images, batch=batch, conf=conf, iou=iou,
                  max_det=max_det, imgsz=imgsz, backend=backend, workers=workers, precision=precision, save_dir=save_dir, plots=plots,
                  progress=(lambda n, total: bar.update(task, completed=n, total=total)) if bar else None)
    finally:
        if bar:
            bar.stop()
    for w in res.warnings:
        _err(f"warning: {w}")
    typer.echo(format_table(res, all_classes))
    if html:
        from .report.val_report import val_report

        res.files["html"] = val_report(res, all_classes).write(html)
    _err("saved " + ", ".join(str(p) for p in res.files.values()))


data_app = typer.Typer(no_args_is_help=True, help="Dataset tools: convert between COCO JSON and YOLO txt labels.")
app.add_typer(data_app, name="data")


@command(data_app, "convert")
def data_convert(
    src: str = typer.Argument(..., help="COCO dataset (folder or instances JSON) or YOLO dataset (data.yaml or folder)."),
    out: str = typer.Option(..., "--out", "-o", help="COCO to YOLO: output folder; YOLO to COCO: output .json."),
    split: str = typer.Option("val", help="Split name: the YOLO folder/key written, or the data.yaml key read."),
    images: Optional[str] = typer.Option(None, help="Images folder of a COCO JSON (default: found beside it)."),
    copy_images: bool = typer.Option(False, "--copy-images", help="Copy images into the YOLO layout instead of linking."),
) -> None:
    """Convert ground truth COCO JSON <-> YOLO txt labels (direction from SRC; crowd regions cannot go to YOLO)."""
    from .data.convert import convert as convert_dataset

    rep = convert_dataset(src, out, split, images, copy_images)
    for w in rep.warnings:
        _err(f"warning: {w}")
    typer.echo(f"wrote {rep.out}: {rep.images} images, {rep.boxes} boxes, {rep.negatives} images without boxes"
               + (f", {rep.crowd_skipped} crowd regions left out" if rep.crowd_skipped else ""))


from .optimize.cli import quantize_command  # noqa: E402

command(app, "quantize")(quantize_command)
command(app, "train")(__import__("yolopt.train.cli", fromlist=["train_command"]).train_command)

from .optimize.prune.cli import prune_command  # noqa: E402
from .optimize.search.cli import optimize_command  # noqa: E402

app.command("prune")(prune_command)
command(app, "optimize")(optimize_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
