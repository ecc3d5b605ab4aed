"""Training profiler: StepTimer accounting, data-alone throughput, and the bound verdicts."""

from __future__ import annotations

import time

import pytest

from yolopt.train.profiler import StepTimer, measure_data_alone


def test_step_timer_splits_each_step_into_its_stages():
    timer = StepTimer("cpu")
    for _ in range(3):
        with timer("data"):
            time.sleep(0.02)
        with timer("forward"):
            time.sleep(0.01)
        timer.step_done(images=4)
    s = timer.summary()
    assert s["steps"] == 3
    assert list(s["stages"]) == ["data", "forward"]  # in pipeline order
    assert s["stages"]["data"]["mean_ms"] == pytest.approx(20, abs=8)
    assert s["stages"]["forward"]["p50_ms"] == pytest.approx(10, abs=8)
    assert s["stages"]["data"]["share"] > s["stages"]["forward"]["share"]
    assert 0.9 < sum(v["share"] for v in s["stages"].values()) <= 1.0001
    assert s["img_per_s"] == pytest.approx(4 * s["steps_per_s"])
    assert timer.summary(skip=3)["steps"] == 0


def test_measure_data_alone_counts_images_after_warmup():
    class B:
        def __init__(self, n):
            import torch
            self.img = torch.zeros(n, 3, 2, 2)

    r = measure_data_alone([B(2)] * 10, steps=5, warmup=1)
    assert r["batches"] == 5 and r["images"] == 10 and r["img_per_s"] > 0
