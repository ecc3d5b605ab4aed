"""Per-stage time accounting shared by the engine, val and the profiler."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from threading import Lock
from typing import Iterator

STAGES = ("read", "decode", "letterbox", "inference", "postprocess")


@dataclass
class StageTimes:
    """Seconds spent per stage, summed over images (worker stages overlap in wall time), and image count."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    images: int = 0
    record: bool = False  # keep every batch's inference time and every image's latency (for benchmarks)
    batch_seconds: list[tuple[int, float]] = field(default_factory=list)  # (batch size, inference s)
    latencies: list[float] = field(default_factory=list)  # per image: submitted to decode → result emitted
    _lock: Lock = field(default_factory=Lock, repr=False)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def count(self, images: int) -> None:
        """Add finished images (called from several inference threads)."""
        with self._lock:
            self.images += images

    @contextmanager
    def track(self, stage: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t)

    def per_image_ms(self) -> dict[str, float]:
        n = max(self.images, 1)
        return {k: 1000 * v / n for k, v in self.seconds.items()}
