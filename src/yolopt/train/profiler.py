"""Training step profiler: where each step's time goes, the data pipeline alone, memory, and a verdict in words."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import numpy as np
import torch

STAGES = ("data", "h2d", "forward", "loss", "backward", "optimizer", "ema")


class StepTimer:
    """Times named stages of each training step; synchronises CUDA around a stage so GPU work is charged to it.

    Cheap enough to stay on in every run: two ``perf_counter`` calls per stage, one dict per step.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._sync = self.device.type == "cuda" and torch.cuda.is_available()
        self.steps: list[dict[str, float]] = []  # seconds per stage of each closed step
        self.step_seconds: list[float] = []  # wall time of each closed step (includes untimed gaps)
        self.images: list[int] = []
        self._current: dict[str, float] = {}
        self._t0: float | None = None

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if self._t0 is None:
            self._t0 = time.perf_counter()
        if self._sync:
            torch.cuda.synchronize(self.device)
        t = time.perf_counter()
        try:
            yield
        finally:
            if self._sync:
                torch.cuda.synchronize(self.device)
            self._current[stage] = self._current.get(stage, 0.0) + time.perf_counter() - t

    def step_done(self, images: int = 0) -> None:
        """Close the current step's record; ``images`` (the batch size) gives img/s in the summary."""
        now = time.perf_counter()
        self.step_seconds.append(now - (self._t0 if self._t0 is not None else now))
        self.steps.append(self._current)
        self.images.append(int(images))
        self._current, self._t0 = {}, None

    def reset(self) -> None:
        """Forget the recorded steps (e.g. after warm-up steps)."""
        self.steps, self.step_seconds, self.images = [], [], []
        self._current, self._t0 = {}, None

    def summary(self, skip: int = 0) -> dict[str, Any]:
        """Per-stage ms (mean, p50, share of the step), steps/s and img/s over the closed steps after ``skip``."""
        steps, walls, imgs = self.steps[skip:], self.step_seconds[skip:], self.images[skip:]
        if not steps:
            return {"steps": 0, "stages": {}, "step_ms": 0.0, "steps_per_s": 0.0, "img_per_s": 0.0}
        names = [s for s in STAGES if any(s in r for r in steps)]
        names += sorted({k for r in steps for k in r} - set(names))
        t = np.array([[r.get(s, 0.0) for s in names] for r in steps]) * 1000  # steps x stages, ms
        wall = float(np.sum(walls))
        step_ms = 1000 * wall / len(steps)
        stages = {s: {"mean_ms": float(t[:, i].mean()), "p50_ms": float(np.median(t[:, i])),
                      "share": float(t[:, i].sum() / (1000 * wall)) if wall > 0 else 0.0}
                  for i, s in enumerate(names)}
        return {"steps": len(steps), "stages": stages, "step_ms": step_ms,
                "other_ms": max(step_ms - float(t.sum(1).mean()), 0.0),
                "steps_per_s": len(steps) / wall if wall > 0 else 0.0,
                "img_per_s": sum(imgs) / wall if wall > 0 and sum(imgs) else 0.0}


def _batch_images(batch: Any) -> int:
    img = getattr(batch, "img", None)
    return int(img.shape[0]) if img is not None else 0


def measure_data_alone(loader: Iterable, steps: int, warmup: int = 1) -> dict[str, float]:
    """Images per second the data pipeline delivers with nothing consuming them (``warmup`` batches not counted)."""
    it = iter(loader)
    for _ in range(warmup):
        if next(it, None) is None:
            break
    n = done = 0
    t = time.perf_counter()
    for batch in it:
        n += _batch_images(batch)
        done += 1
        if done >= steps:
            break
    sec = time.perf_counter() - t
    return {"batches": done, "images": n, "seconds": sec, "img_per_s": n / sec if sec > 0 and n else 0.0}
