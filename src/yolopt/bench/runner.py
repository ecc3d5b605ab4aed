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
from ..detector import Detector
from ..engine import StageTimes
from ..machine import machine  # noqa: F401  (re-exported: the CLI prints it)
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


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    a = np.asarray(values) * 1000
    return {f"p{q}": round(float(np.percentile(a, q)), 2) for q in (50, 95, 99)}


def inference_only(det: Detector, inputs: list[np.ndarray], batch: int, min_seconds: float = 0.0) -> float:
    """img/s of ``backend.infer`` alone over the same images, batched by shape as the engine does, with as
    many calls in flight as the engine makes (``backend.concurrency``); passes repeat for ``min_seconds``."""
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for x in inputs:
        by_shape.setdefault(x.shape, []).append(x)
    batches = [np.stack(group[i : i + batch]) for group in by_shape.values() for i in range(0, len(group), batch)]
    n = concurrency(det.backend)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(det.backend.infer, [b[:1] for b in batches[:n]]))  # warm-up: first calls compile, reshape
        t0 = time.perf_counter()
        passes = 0
        while not passes or time.perf_counter() - t0 < min_seconds:
            list(pool.map(det.backend.infer, batches))
            passes += 1
        return passes * len(inputs) / (time.perf_counter() - t0)



def bench_one(det: Detector, paths: list[Path], batch: int, inputs: list[np.ndarray] | None = None,
              precision: str = "fp32", warmup: int = 8, min_seconds: float = 0.0) -> tuple[BenchResult, list]:
    """Run the full pipeline over ``paths`` (after a short warm-up) and measure it; the first pass's results.

    ``min_seconds`` repeats the images until that long has passed (whole pipeline and inference-only timing
    alike), so short image lists still reach a steady state.
    """
    list(det.predict(paths[:warmup], batch=batch))
    t = StageTimes(record=True)  # this run's counters
    results = []
    n = 0
    with RssMonitor() as mon:
        t0 = time.perf_counter()
        while not n or time.perf_counter() - t0 < min_seconds:  # whole passes (sources are listed up front)
            for r in det.predict(paths, batch=batch, times=t):
                if n < len(paths):
                    results.append(r)
                n += 1
        wall = time.perf_counter() - t0
    infer = inference_only(det, inputs, batch, min_seconds) if inputs is not None else float("nan")
    res = BenchResult(
        backend=det.backend.name,
        precision=precision,
        batch=batch,
        images=n,
        e2e_img_s=round(n / wall, 2),
        infer_img_s=round(infer, 2),
        latency_ms=_pct(t.latencies),
        batch_latency_ms=_pct([s for _, s in t.batch_seconds]),
        peak_rss_mb=round(mon.peak / 2**20, 1),
        stage_ms={k: round(v, 2) for k, v in t.per_image_ms().items()},
        detections=sum(len(r) for r in results),
    )
    return res, results


def batch_histogram(times: StageTimes) -> Counter:
    """How many inference calls ran at each batch size in a run recorded with ``StageTimes(record=True)``."""
    return Counter(n for n, _ in times.batch_seconds)
