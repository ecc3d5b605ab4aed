"""The project's core promise: an image's detections never depend on how images were batched."""

from __future__ import annotations

import random

import numpy as np
import pytest

from yolopt import Detector


@pytest.fixture(scope="module")
def images(data_dir):
    paths = sorted((data_dir / "coco-val" / "images").glob("*.jpg")) + sorted(
        (data_dir / "coco-val-extra" / "images").glob("*.jpg")
    )
    assert len(paths) == 500
    return paths


def _run(det: Detector, paths, batch: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = {}
    for r in det.predict(paths, batch=batch):
        assert r.ok, r.error
        out[r.source] = (r.boxes, r.scores, r.class_ids)
    assert len(out) == len(paths)
    return out


@pytest.mark.slow
def test_batch_size_and_order_do_not_change_results(images):
    det = Detector("yolov8n", conf=0.001, iou=0.7, max_det=300)
    reference = _run(det, images, batch=1)
    shuffled = list(images)
    random.Random(0).shuffle(shuffled)
    shapes = {tuple(r[0].shape) for r in reference.values()}
    assert len(shapes) > 1  # mixed detection counts
    for label, paths, batch in (("batch 8", images, 8), ("batch 32", images, 32), ("shuffled, batch 8", shuffled, 8)):
        other = _run(det, paths, batch)
        for src, (boxes, scores, cls) in reference.items():
            b2, s2, c2 = other[src]
            assert len(scores) == len(s2), f"{label}: {src} has {len(s2)} detections, {len(scores)} at batch 1"
            assert (cls == c2).all(), f"{label}: {src} classes differ"
            assert np.abs(boxes - b2).max(initial=0) <= 1e-3, f"{label}: {src} boxes differ"
            assert np.abs(scores - s2).max(initial=0) <= 1e-5, f"{label}: {src} scores differ"
