"""Profile the real pipeline: per-stage costs (serial pass), overlap and queue waits (pipelined pass), per-layer
network cost, the system's view, and a diagnosis."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..data.inputs import image_files, load_input
from ..errors import YoloptError
from ..detector import Detector
from ..engine import BatchEngine, StageTimes
from ..io.sinks import JsonlSink
from .diagnose import Finding, diagnose
from .layers import LayerCost, openvino_layers, torch_layers
from .system import SystemMonitor


@dataclass
class ProfileReport:
    """Everything ``yolopt profile`` measured; ``to_dict`` is the JSON form."""

    config: dict[str, Any]
    images: int
    serial_wall_ms: float  # wall time per image of the serial pass
    serial_ms: dict[str, float]  # per image, per stage, serial pass (sums to ~serial_wall_ms)
    pipeline: dict[str, Any]  # pipelined pass: wall, img/s, queue waits, stage times
    system: dict[str, Any]
    layers: list[LayerCost] = field(default_factory=list)
    top_ops: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def accounted(self) -> float:
        """Share of the serial wall time that the stage timers explain."""
        return sum(self.serial_ms.values()) / self.serial_wall_ms if self.serial_wall_ms else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config, "images": self.images, "serial_wall_ms": self.serial_wall_ms,
            "serial_ms": self.serial_ms, "accounted": self.accounted, "pipeline": self.pipeline,
            "system": self.system, "layers": [r.to_dict() for r in self.layers], "top_ops": self.top_ops,
            "findings": [f.to_dict() for f in self.findings], "files": self.files,
        }


def _serial_pass(det: Detector, paths: list[Path], batch: int, sink_path: Path) -> tuple[float, dict[str, float]]:
    """Stages one after another, results written to a real JSONL file: wall ms/image and ms/image per stage."""
    times = StageTimes()
    engine = BatchEngine(det.backend, det.config, batch, times=times)
    sink = JsonlSink(sink_path)
    n = 0
    t0 = time.perf_counter()
    try:
        for r in engine.run_serial(paths):
            with times.track("write"):
                sink.write(r)
            n += 1
    finally:
        sink.close()
    wall = time.perf_counter() - t0
    ms = {k: round(1000 * v / max(n, 1), 3) for k, v in times.seconds.items()}
    return 1000 * wall / max(n, 1), ms


def profile(
    sources: list[str | Path],
    model: str = "yolov8n",
    backend: str = "auto",
    batch: int = 1,
    workers: int | None = None,
    conf: float = 0.25,
    max_det: int = 300,
    imgsz: int = 640,
    limit: int | None = None,
    save_dir: str | Path = "runs/profile",
    layer_repeats: int = 5,
) -> ProfileReport:
    """Run the pipeline twice over the images (serial, then pipelined) and the network alone per layer."""
    errors: list[str] = []
    paths = image_files(sources, errors)[:limit]
    if not paths:
        missing = "; ".join(errors)
        raise YoloptError(f"no images to profile in {', '.join(map(str, sources))}" + (f" ({missing})" if missing else ""))
    det = Detector(model, backend, imgsz=imgsz, conf=conf, max_det=max_det, batch=batch, workers=workers)
    backend = det.backend.name
    out = Path(save_dir)
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or BatchEngine(det.backend).workers
    list(det.predict(paths[: min(4, len(paths))]))  # warm-up: first calls allocate and pick kernels

    serial_wall_ms, serial_ms = _serial_pass(det, paths, batch, out / "predictions.jsonl")

    times = StageTimes()
    engine = det.engine(batch, times)
    mon = SystemMonitor().start()
    t0 = time.perf_counter()
    n = sum(1 for _ in engine.run(paths))
    wall = time.perf_counter() - t0
    mon.stop()
    pipeline = {
        "wall_s": round(wall, 3), "img_s": round(n / wall, 2), "wall_ms_per_image": round(1000 * wall / n, 3),
        "stage_ms": {k: round(v, 3) for k, v in times.per_image_ms().items()},
        "queues": [{"name": q.name, "full_s": round(q.full_s, 3), "empty_s": round(q.empty_s, 3), "items": q.items}
                   for q in engine.queue_stats],
    }
    system = mon.summary()

    layers, ops = [], []
    trace = out / "trace.json"
    net = getattr(det.backend, "net", None)
    if isinstance(net, torch.nn.Module):
        x = torch.from_numpy(load_input(paths[0], imgsz).chw)[None].float() / 255
        x = x.to(next(net.parameters()).dtype).contiguous(memory_format=torch.channels_last)
        layers, ops = torch_layers(net, x, layer_repeats, trace)
    elif det.backend.name == "openvino":
        x = load_input(paths[0], imgsz).chw[None]
        layers = openvino_layers(det.backend.compile(x.shape, PERF_COUNT=True), x, layer_repeats)

    findings = diagnose(serial_ms, pipeline, system, batch, workers, backend, conf, max_det)
    report = ProfileReport(
        config={"model": model, "backend": backend, "batch": batch, "workers": workers, "conf": conf,
                "max_det": max_det, "imgsz": imgsz},
        images=n, serial_wall_ms=round(serial_wall_ms, 3), serial_ms=serial_ms, pipeline=pipeline, system=system,
        layers=layers, top_ops=ops, findings=findings,
    )
    if trace.exists():
        report.files["chrome_trace"] = str(trace)
    return report
