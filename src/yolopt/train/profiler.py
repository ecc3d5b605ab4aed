"""Training step profiler: where each step's time goes, the data pipeline alone, memory, and a verdict in words."""

from __future__ import annotations

import os
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


DATA_BOUND = 0.25  # a step that waits this share of its time for batches is data-bound


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child (e.g. a DataLoader worker), MB."""
    import resource

    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def diagnose(summary: dict[str, Any], data_alone_img_s: float | None, workers: int | None = None,
             cache: str | None = None, cpu: bool = True, precision: str | None = None) -> tuple[str, str]:
    """(verdict, one sentence with its numbers): data-bound, copy-bound or compute-bound, and what to change."""
    st, step = summary["stages"], summary["step_ms"] or 1e-9
    share = {k: v["mean_ms"] / step for k, v in st.items()}
    data = share.get("data", 0.0)
    compute_ms = step - st.get("data", {}).get("mean_ms", 0.0)
    batch = summary["img_per_s"] / summary["steps_per_s"] if summary["steps_per_s"] else 0
    model_img_s = 1000 * batch / compute_ms if compute_ms > 0 and batch else 0.0
    alone = f"; the data pipeline alone delivers {data_alone_img_s:.1f} img/s" if data_alone_img_s else ""
    if data >= DATA_BOUND:
        more = f" (now {workers})" if workers is not None else ""
        tips = [f"raise --workers{more}"] + (["use --cache ram"] if cache != "ram" else []) + ["lower --imgsz"]
        return "data-bound", (f"data-bound: {data:.0%} of each step waits for batches "
                              f"({st['data']['mean_ms']:.0f} of {step:.0f} ms); the model alone would take "
                              f"{model_img_s:.1f} img/s{alone} — {' or '.join(tips[:2])}")
    if share.get("h2d", 0.0) >= DATA_BOUND:
        return "copy-bound", (f"copy-bound: {share['h2d']:.0%} of each step copies the batch to the device "
                              f"({st['h2d']['mean_ms']:.0f} of {step:.0f} ms) — pin memory and copy non-blocking")
    top = sorted(((v, k) for k, v in share.items() if k not in ("data", "h2d")), reverse=True)
    parts = ", ".join(f"{k} {v:.0%}" for v, k in top[:3])
    headroom = f", {data_alone_img_s / summary['img_per_s']:.1f}x what training consumes" \
        if data_alone_img_s and summary["img_per_s"] else ""
    cores, threads = len(os.sched_getaffinity(0)), torch.get_num_threads()
    crowded = "" if not (cpu and workers and threads > 1 and threads + workers > cores) else \
        f"; torch's {threads} threads share {cores} cores with {workers} workers: fewer (OMP_NUM_THREADS) may be faster"
    amp = "" if precision in ("bf16", "fp16") else "--precision bf16 (CPUs with BF16, or CUDA), "
    return "compute-bound", (f"compute-bound: the model takes {1 - data:.0%} of each step ({parts}); only {data:.0%} "
                             f"waits for batches{alone}{headroom} — more workers will not help; try {amp}"
                             f"a smaller --imgsz or a smaller model{crowded}")


def report(timer: StepTimer, data_alone_img_s: float | None = None, memory: dict[str, float] | None = None, *,
           workers: int | None = None, cache: str | None = None, precision: str | None = None,
           skip: int | None = None, echo: Any = print) -> dict[str, Any]:
    """Print the per-stage table, throughput, memory and the verdict; return them as a dict.

    ``skip`` steps at the start are left out (default: the first, which includes starting the workers).
    """
    skip = (1 if len(timer.steps) > 2 else 0) if skip is None else skip
    s = timer.summary(skip=skip)
    mem = {**peak_rss_mb(), **(memory or {})}
    verdict, text = ("no steps", "no steps timed") if not s["steps"] else \
        diagnose(s, data_alone_img_s, workers, cache, timer.device.type == "cpu", precision)
    echo(f"training profile: {s['steps']} steps (after {skip} warm-up), {s['step_ms']:.0f} ms a step, "
         f"{s['img_per_s']:.2f} img/s")
    echo(f"  {'stage':<10} {'mean ms':>9} {'p50 ms':>9} {'share':>7}")
    for name, v in s["stages"].items():
        echo(f"  {name:<10} {v['mean_ms']:>9.1f} {v['p50_ms']:>9.1f} {v['share']:>6.1%}")
    if s.get("other_ms", 0.0) > 0.01 * s["step_ms"]:
        echo(f"  {'untimed':<10} {s['other_ms']:>9.1f} {'':>9} {s['other_ms'] / max(s['step_ms'], 1e-9):>6.1%}")
    if data_alone_img_s is not None:
        echo(f"  data pipeline alone: {data_alone_img_s:.2f} img/s")
    echo("  memory: " + ", ".join(f"{k.removesuffix('_mb').replace('_', ' ')} {v:.0f} MB" for k, v in mem.items()))
    echo(f"  {text}")
    return {**s, "data_alone_img_per_s": data_alone_img_s, "memory": mem, "verdict": verdict, "diagnosis": text}
