"""Measure a detector configuration: end-to-end and inference-only throughput, latency, memory."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backends.base import concurrency
from ..data.decode import read_image
from ..data.letterbox import letterbox_chw
from ..data.sources import expand
from ..detector import Detector
from .monitor import RssMonitor


@dataclass
class BenchResult:
    """One row of a benchmark table."""

    backend: str
    precision: str
    batch: int
    images: int
    e2e_img_s: float
    infer_img_s: float
    latency_ms: dict[str, float]  # per image, submit → result: p50/p95/p99
    batch_latency_ms: dict[str, float]  # per inference call: p50/p95/p99
    peak_rss_mb: float
    stage_ms: dict[str, float] = field(default_factory=dict)
    detections: int = 0
    map50_95: float | None = None
    map50: float | None = None
    model: str = ""  # file or model name, to tell rows apart when several models are compared

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine() -> str:
    """One line naming the CPU, its core count and memory (for benchmark tables)."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    except OSError:
        mem = "? GiB"
    return f"{cpu}, {os.cpu_count()} cores, {mem}"


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    a = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}


def image_paths(sources: list[str | Path]) -> list[Path]:
    """The image files a source list names (videos and errors are left out of benchmarks)."""
    return [p for p in expand(sources) if isinstance(p, Path) and p.suffix.lower() not in {".mp4", ".avi", ".mov", ".mkv"}]


def letterboxed_inputs(paths: list[Path], imgsz: int) -> list[np.ndarray]:
    """Decode and letterbox every image once, as (3, H, W) uint8 RGB, for inference-only timing."""
    out = []
    for p in paths:
        out.append(letterbox_chw(read_image(p), imgsz)[0])
    return out


def inference_only(det: Detector, inputs: list[np.ndarray], batch: int) -> float:
    """img/s of ``backend.infer`` alone over the same images, batched by shape as the engine does, with as
    many calls in flight as the engine makes (``backend.concurrency``)."""
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for x in inputs:
        by_shape.setdefault(x.shape, []).append(x)
    batches = [np.stack(group[i : i + batch]) for group in by_shape.values() for i in range(0, len(group), batch)]
    n = concurrency(det.backend)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(det.backend.infer, [b[:1] for b in batches[:n]]))  # warm-up: first calls compile, reshape
        t0 = time.perf_counter()
        list(pool.map(det.backend.infer, batches))
        return len(inputs) / (time.perf_counter() - t0)


def bench_one(det: Detector, paths: list[Path], batch: int, inputs: list[np.ndarray] | None = None,
              precision: str = "fp32", warmup: int = 8) -> tuple[BenchResult, list]:
    """Run the full pipeline over ``paths`` once (after a short warm-up) and measure it."""
    list(det.predict(paths[:warmup], batch=batch))
    det.times.__init__(record=True)  # fresh counters for the timed run
    results = []
    with RssMonitor() as mon:
        t0 = time.perf_counter()
        for r in det.predict(paths, batch=batch):
            results.append(r)
        wall = time.perf_counter() - t0
    infer = inference_only(det, inputs, batch) if inputs is not None else float("nan")
    t = det.times
    res = BenchResult(
        backend=det.backend.name,
        precision=precision,
        batch=batch,
        images=len(paths),
        e2e_img_s=round(len(paths) / wall, 2),
        infer_img_s=round(infer, 2),
        latency_ms=_pct(t.latencies),
        batch_latency_ms=_pct([s for _, s in t.batch_seconds]),
        peak_rss_mb=round(mon.peak / 2**20, 1),
        stage_ms={k: round(v, 2) for k, v in t.per_image_ms().items()},
        detections=sum(len(r) for r in results),
    )
    return res, results


def batch_histogram(det: Detector) -> Counter:
    return Counter(n for n, _ in det.times.batch_seconds)
