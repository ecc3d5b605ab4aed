"""Box conversions and IoU, vectorised over any number of boxes (NumPy, float32)."""

from __future__ import annotations

import numpy as np


def xywh2xyxy(x: np.ndarray) -> np.ndarray:
    """(…, 4) centre-x, centre-y, width, height → x1, y1, x2, y2."""
    xy, wh = x[..., :2], x[..., 2:4] / 2
    return np.concatenate((xy - wh, xy + wh), -1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes → (N, M)."""
    a, b = np.asarray(a), np.asarray(b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    # one (N, M) array per coordinate rather than (N, M, 2) stacks: half the memory traffic
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0, out=iw) * np.maximum(ih, 0, out=ih)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def scale_boxes(boxes: np.ndarray, gain: float, pad: tuple[int, int], orig_shape: tuple[int, int]) -> np.ndarray:
    """Map xyxy boxes from letterboxed-input pixels back to original-image pixels, clipped to the image."""
    out = boxes.copy()
    out[:, [0, 2]] -= pad[0]
    out[:, [1, 3]] -= pad[1]
    out /= gain
    h, w = orig_shape
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out
