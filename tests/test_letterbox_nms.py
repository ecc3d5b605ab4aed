"""Letterbox reproduces the reference input; NMS equals a plain sequential greedy NMS."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from yolopt.data.letterbox import letterbox, letterbox_chw, letterbox_shape
from yolopt.ops.boxes import box_iou, scale_boxes
from yolopt.ops.nms import nms

SAMPLES = ["000000184324", "000000303818", "000000397133"]


@pytest.mark.parametrize("name", SAMPLES)
def test_letterbox_matches_reference_input(data_dir, name):
    ref = np.load(data_dir / "reference" / f"yolov8n_{name}.npz")["input_rgb_uint8"]
    img = cv2.imread(str(data_dir / "samples" / f"{name}.jpg"))
    out, info = letterbox(img, 640)
    chw = out[..., ::-1].transpose(2, 0, 1)
    assert chw.shape == ref.shape
    diff = np.abs(chw.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.001
    assert info.input_shape == letterbox_shape(img.shape[:2], 640)


@pytest.mark.parametrize("shape", [(480, 640), (427, 640), (1000, 700), (17, 900), (640, 640), (2, 3), (1080, 1920)])
@pytest.mark.parametrize("imgsz", [640, 320])
def test_letterbox_chw_is_letterbox_in_network_layout(shape, imgsz):
    """The engine's fast path (planes copied into a pre-filled canvas) gives exactly letterbox's pixels."""
    img = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    hwc, info = letterbox(img, imgsz)
    chw, info2 = letterbox_chw(img, imgsz)
    assert info2 == info and chw.flags.c_contiguous
    assert np.array_equal(chw, hwc[..., ::-1].transpose(2, 0, 1))


def test_letterbox_geometry_and_inverse():
    img = np.zeros((333, 500, 3), np.uint8)
    out, info = letterbox(img, 640)
    assert out.shape[:2] == (448, 640) and out.shape[0] % 32 == 0
    assert (out[0, 0] == 114).all()  # padding colour
    # a box covering the whole original maps back onto the whole original
    h, w = info.orig_shape
    x0, y0 = info.pad
    box = np.array([[x0, y0, x0 + w * info.gain, y0 + h * info.gain]], np.float32)
    assert np.allclose(scale_boxes(box, info.gain, info.pad, info.orig_shape), [[0, 0, w, h]], atol=1e-3)
    # square canvas option
    assert letterbox(img, 320, rect=False)[0].shape[:2] == (320, 320)


def _greedy_reference(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, thr: float) -> list[int]:
    """Textbook sequential NMS (the definition), per class."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep: list[int] = []
    for i in order:
        if all(classes[k] != classes[i] or box_iou(boxes[i : i + 1], boxes[k : k + 1]).item() <= thr for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_nms_equals_sequential_greedy(seed):
    g = np.random.default_rng(seed)
    n = 300
    xy = g.random((n, 2), dtype=np.float32) * 200
    wh = g.random((n, 2), dtype=np.float32) * 60 + 5
    boxes = np.concatenate((xy, xy + wh), 1)
    scores = g.random(n, dtype=np.float32)
    classes = g.integers(0, 4, n)
    for thr in (0.3, 0.5, 0.7):
        assert nms(boxes, scores, classes, thr).tolist() == _greedy_reference(boxes, scores, classes, thr)


def test_nms_chain_suppression():
    """A suppressed box must not suppress others: A suppresses B, B overlaps C, so C survives."""
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    keep = nms(boxes, scores, np.zeros(3, dtype=np.int64), 0.4)
    assert keep.tolist() == [0, 2]
