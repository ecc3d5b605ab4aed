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


def _fit(img: np.ndarray, imgsz: int, stride: int, rect: bool) -> tuple[np.ndarray, LetterboxInfo]:
    """``img`` resized to its place in the network input (bilinear, rounded size), and that placement.

    The padding is split with ``round(d ± 0.1)`` as Ultralytics does: ``pad`` is (left, top), and the
    right / bottom padding is whatever remains.
    """
    if imgsz % stride:
        raise ValueError(f"imgsz {imgsz} must be a multiple of the model stride {stride}")
    h, w = img.shape[:2]
    r = min(imgsz / h, imgsz / w)
    nh, nw = int(round(h * r)), int(round(w * r))
    out_h, out_w = letterbox_shape((h, w), imgsz, stride, rect)
    if (h, w) != (nh, nw):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    pad = int(round((out_w - nw) / 2 - 0.1)), int(round((out_h - nh) / 2 - 0.1))
    return img, LetterboxInfo((h, w), (out_h, out_w), r, pad)


def letterbox(img: np.ndarray, imgsz: int = 640, stride: int = 32, rect: bool = True) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize ``img`` (H, W, 3 uint8) keeping aspect ratio and pad with gray 114, centred.

    Matches Ultralytics' ``LetterBox(auto=True)`` pixel for pixel: bilinear resize to the rounded
    scaled size, padding split with ``round(d ± 0.1)``.
    """
    img, info = _fit(img, imgsz, stride, rect)
    (left, top), (out_h, out_w) = info.pad, info.input_shape
    bottom, right = out_h - img.shape[0] - top, out_w - img.shape[1] - left
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return out, info


def letterbox_chw(img: np.ndarray, imgsz: int = 640, stride: int = 32, rect: bool = True) -> tuple[np.ndarray, LetterboxInfo]:
    """:func:`letterbox` straight to the network's (3, H, W) RGB layout, bit for bit the same pixels.

    The resized image is split into planes (one fast deinterleave) copied into a canvas padded only at
    its borders, instead of padding in HWC and then flipping BGR→RGB and transposing (a strided copy of
    every byte).
    """
    img, info = _fit(img, imgsz, stride, rect)
    (left, top), (out_h, out_w) = info.pad, info.input_shape
    nh, nw = img.shape[:2]
    out = np.empty((3, out_h, out_w), np.uint8)
    if (nh, nw) != (out_h, out_w):
        out[:, :top] = PAD_VALUE
        out[:, top + nh :] = PAD_VALUE
        out[:, top : top + nh, :left] = PAD_VALUE
        out[:, top : top + nh, left + nw :] = PAD_VALUE
    for c, plane in enumerate(reversed(cv2.split(img))):  # B, G, R planes → R, G, B channels
        out[c, top : top + nh, left : left + nw] = plane
    return out, info
