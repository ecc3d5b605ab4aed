"""The project's core promise: an image's detections never depend on how images were batched.

The torch backend runs every image as its own network call, so batching cannot change a single bit: this is
checked bitwise, on 48 images of mixed letterboxed shapes (batches mix shapes only by bucketing them).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from yolopt import Detections, Detector
from yolopt.data.letterbox import letterbox_shape


@pytest.fixture(scope="module")
def images(data_dir):
    paths = sorted((data_dir / "coco-val" / "images").glob("*.jpg")) + sorted(
        (data_dir / "coco-val-extra" / "images").glob("*.jpg")
    )
    assert len(paths) == 500
    return paths[::10][:48]  # spread over both sets


def _run(det: Detector, paths, batch: int) -> dict[str, Detections]:
    out = {r.source: r.raise_for_error() for r in det.predict(paths, batch=batch)}
    assert len(out) == len(paths)
    return out


def test_batch_size_and_order_do_not_change_a_bit(images):
    det = Detector("yolov8n", "torch", conf=0.001, iou=0.7, max_det=300)
    reference = _run(det, images, batch=1)
    assert len({letterbox_shape(r.shape, 640) for r in reference.values()}) >= 4  # mixed input shapes
    assert len({len(r) for r in reference.values()}) > 10  # mixed detection counts
    shuffled = list(images)
    random.Random(0).shuffle(shuffled)
    for label, paths, batch in (("batch 8", images, 8), ("shuffled, batch 5", shuffled, 5)):
        other = _run(det, paths, batch)
        for src, ref in reference.items():
            r = other[src]
            assert np.array_equal(ref.boxes, r.boxes) and np.array_equal(ref.scores, r.scores) and \
                np.array_equal(ref.class_ids, r.class_ids), f"{label}: {src} differs from batch 1"
