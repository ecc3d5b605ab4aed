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


def _big_jpegs(root, n, size, seed=0):
    """A YOLO dataset of ``n`` noisy ``size`` JPEGs (slow to decode), one labelled box each."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for i in range(n):
        img = rng.integers(0, 255, (size[1], size[0], 3), np.uint8)
        cv2.imwrite(str(root / "images" / "train" / f"{i}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        (root / "labels" / "train" / f"{i}.txt").write_text("0 0.5 0.5 0.3 0.4\n1 0.2 0.3 0.1 0.1\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/train\nnames: [a, b]\n")
    return root / "data.yaml"


def _profile(tmp_path, data, **kw):
    """``train(profile=4)`` on one compute thread, so the model does not fight the worker for the CPU."""
    import torch

    from yolopt.train import train

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = train(data=str(data), model="yolov8n", nc=2, epochs=1, val=False, project=str(tmp_path / "runs"),
                    profile=4, plots=False, **kw)
    finally:
        torch.set_num_threads(threads)
    return res.profile


@pytest.mark.slow
def test_profile_verdicts_data_bound_and_compute_bound(tmp_path, capsys):
    pytest.importorskip("albumentations")
    # 1 worker decoding four 4000x3000 JPEGs per mosaic sample for a tiny 64 px step: waits for data
    slow = _profile(tmp_path, _big_jpegs(tmp_path / "big", 4, (4000, 3000)), imgsz=64, batch=1, workers=1)
    out = capsys.readouterr().out
    assert slow["verdict"] == "data-bound", slow["diagnosis"]
    assert "waits for batches" in out and "raise --workers" in out and "data pipeline alone" in out
    assert slow["stages"]["data"]["share"] >= 0.25
    # small cached images without augmentation for a 320 px step: the model is the bottleneck
    fast = _profile(tmp_path, _big_jpegs(tmp_path / "small", 8, (64, 48)), imgsz=320, batch=4, workers=1,
                    augment=False, cache="ram")
    assert fast["verdict"] == "compute-bound", fast["diagnosis"]
    assert fast["stages"]["data"]["share"] < 0.25
    assert {"forward", "loss", "backward", "optimizer"} <= set(fast["stages"])
    assert fast["data_alone_img_per_s"] > fast["img_per_s"]
    assert fast["memory"]["peak_rss_mb"] > 50
