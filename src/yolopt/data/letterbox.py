"""Letterbox: the one resize-and-pad used everywhere (predict, val, export checks, server)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxInfo:
    """How an original image maps into the network input: ``input = original * gain + (pad_x, pad_y)``."""

    orig_shape: tuple[int, int]  # (h, w)
    input_shape: tuple[int, int]  # (h, w)
    gain: float
    pad: tuple[int, int]  # (left, top)


def letterbox_shape(orig_shape: tuple[int, int], imgsz: int = 640, stride: int = 32, rect: bool = True) -> tuple[int, int]:
    """Network input (h, w) for an image of ``orig_shape``: long side to ``imgsz``, short side padded to a
    multiple of ``stride`` (``rect``), or the full ``imgsz`` square. Depends on this image alone."""
    h, w = orig_shape
    r = min(imgsz / h, imgsz / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    if not rect:
        return imgsz, imgsz
    return nh + (imgsz - nh) % stride, nw + (imgsz - nw) % stride


def letterbox(img: np.ndarray, imgsz: int = 640, stride: int = 32, rect: bool = True) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize ``img`` (H, W, 3 uint8) keeping aspect ratio and pad with gray 114, centred.

    Matches Ultralytics' ``LetterBox(auto=True)`` pixel for pixel: bilinear resize to the rounded
    scaled size, padding split with ``round(d ± 0.1)``.
    """
    if imgsz % stride:
        raise ValueError(f"imgsz {imgsz} must be a multiple of the model stride {stride}")
    h, w = img.shape[:2]
    r = min(imgsz / h, imgsz / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    out_h, out_w = letterbox_shape((h, w), imgsz, stride, rect)
    dw, dh = (out_w - nw) / 2, (out_h - nh) / 2
    if (h, w) != (nh, nw):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return out, LetterboxInfo((h, w), (out_h, out_w), r, (left, top))


def letterbox_chw(img: np.ndarray, imgsz: int = 640, stride: int = 32, rect: bool = True) -> tuple[np.ndarray, LetterboxInfo]:
    """:func:`letterbox` straight to the network's (3, H, W) RGB layout, bit for bit the same pixels.

    Splitting the resized image into planes and copying each into a pre-filled canvas costs about a
    quarter of padding in HWC and then transposing with a BGR→RGB flip (a strided copy of every byte).
    """
    if imgsz % stride:
        raise ValueError(f"imgsz {imgsz} must be a multiple of the model stride {stride}")
    h, w = img.shape[:2]
    r = min(imgsz / h, imgsz / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    out_h, out_w = letterbox_shape((h, w), imgsz, stride, rect)
    dw, dh = (out_w - nw) / 2, (out_h - nh) / 2
    if (h, w) != (nh, nw):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    out = np.empty((3, out_h, out_w), np.uint8)
    if (nh, nw) != (out_h, out_w):
        out[:, :top] = PAD_VALUE
        out[:, top + nh :] = PAD_VALUE
        out[:, top : top + nh, :left] = PAD_VALUE
        out[:, top : top + nh, left + nw :] = PAD_VALUE
    for c, plane in enumerate(reversed(cv2.split(img))):  # B, G, R planes → R, G, B channels
        out[c, top : top + nh, left : left + nw] = plane
    return out, LetterboxInfo((h, w), (out_h, out_w), r, (left, top))
