"""Training augmentation: mosaic, random affine, HSV jitter, flip and letterbox, with the boxes moved along.

Affine, colour and flip transforms and their box handling are albumentations' (optional ``train`` extra); the
mosaic (see :func:`mosaic4`) and the centred letterbox of an already resized image are written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..data.letterbox import PAD_VALUE

MIN_BOX_PX = 2.0  # boxes thinner than this after augmentation are dropped (YOLOv8's box_candidates rule)
MIN_VISIBLE = 0.1  # ... and those with less than this share of their area left in the image
MAX_ASPECT = 100.0


@dataclass(frozen=True)
class Hyp:
    """Augmentation strengths, YOLOv8's defaults: affine scale/translate, HSV gains, flip probability."""

    scale: float = 0.5
    translate: float = 0.1
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5


def albumentations() -> Any:
    """The albumentations module, imported on first use with a clear message when the extra is missing."""
    try:
        import albumentations as A
    except ImportError as e:
        raise ImportError(f"training augmentation needs albumentations: pip install 'yolopt[train]' ({e})") from e
    return A


def build(imgsz: int, hyp: Hyp = Hyp()) -> Any:
    """One sample's pipeline after mosaic: letterbox to imgsz² (when not a mosaic) → affine → HSV → flip.

    Images come in resized so their long side is ``imgsz``; boxes are YOLO-normalised, clipped to the image,
    and dropped when under ``MIN_BOX_PX`` wide or high or less than ``MIN_VISIBLE`` of their area remains.
    """
    A = albumentations()
    fill = (PAD_VALUE,) * 3
    return A.Compose(
        [A.PadIfNeeded(imgsz, imgsz, position="center", border_mode=cv2.BORDER_CONSTANT, fill=fill),
         A.Affine(scale=(1 - hyp.scale, 1 + hyp.scale), translate_percent=(-hyp.translate, hyp.translate),
                  keep_ratio=True, border_mode=cv2.BORDER_CONSTANT, fill=fill, p=1.0),
         A.ColorJitter(brightness=hyp.hsv_v, contrast=0.0, saturation=hyp.hsv_s, hue=hyp.hsv_h, p=1.0),
         A.HorizontalFlip(p=hyp.fliplr)],
        bbox_params=A.BboxParams(format="yolo", label_fields=["cls"], min_width=MIN_BOX_PX, min_height=MIN_BOX_PX,
                                 min_visibility=MIN_VISIBLE, max_accept_ratio=MAX_ASPECT, clip=True,
                                 filter_invalid_bboxes=True),
    )


def apply(pipe: Any, img: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``pipe`` on one image and its (n, 5) labels with a fixed seed."""
    pipe.set_random_seed(seed)
    out = pipe(image=img, bboxes=labels[:, 1:], cls=labels[:, 0])
    boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
    cls = np.asarray(out["cls"], np.float32).reshape(-1, 1)
    return out["image"], np.concatenate([cls, boxes], 1)


def mosaic4(items: list[tuple[np.ndarray, np.ndarray]], imgsz: int,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Four images meeting at a random point, seen through an imgsz² window; (n, 5) labels normalised to it.

    The images sit around the junction (top-left, top-right, bottom-left, bottom-right) on a conceptual
    2·imgsz canvas whose central window is kept, the junction drawn in that window. Written here rather than
    albumentations' ``Mosaic``, which builds a pipeline per cell on every call and costs several times the
    rest of a sample's augmentation; boxes move, clip and filter as arrays.
    """
    s = imgsz
    xc, yc = rng.uniform(0, s, 2).astype(int)  # the junction, in window coordinates
    out = np.full((s, s, 3), PAD_VALUE, np.uint8)
    boxes = []
    for k, (img, lab) in enumerate(items[:4]):
        h, w = img.shape[:2]
        x0 = xc - w if k in (0, 2) else xc
        y0 = yc - h if k in (0, 1) else yc
        ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, s), min(y0 + h, s)
        if ax1 > ax0 and ay1 > ay0:
            out[ay0:ay1, ax0:ax1] = img[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
        if len(lab):
            xy = lab[:, 1:3] * (w, h) + (x0, y0)
            half = lab[:, 3:5] * (w, h) / 2
            boxes.append(np.concatenate([lab[:, :1], xy - half, xy + half], 1))
    if not boxes:
        return out, np.zeros((0, 5), np.float32)
    b = np.concatenate(boxes)
    full = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    b[:, 1:] = b[:, 1:].clip(0, s)
    bw, bh = b[:, 3] - b[:, 1], b[:, 4] - b[:, 2]
    keep = (bw >= MIN_BOX_PX) & (bh >= MIN_BOX_PX) & (bw * bh >= MIN_VISIBLE * full)
    b = b[keep]
    xywh = np.concatenate([(b[:, 1:3] + b[:, 3:5]) / 2, b[:, 3:5] - b[:, 1:3]], 1) / s
    return out, np.concatenate([b[:, :1], xywh], 1).astype(np.float32)


def pad_to(img: np.ndarray, labels: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Centre an already resized image on a gray ``shape`` (h, w) canvas (the letterbox), boxes re-normalised."""
    h, w = img.shape[:2]
    out_h, out_w = shape
    if h > out_h or w > out_w:
        r = min(out_h / h, out_w / w)
        img = cv2.resize(img, (max(1, round(w * r)), max(1, round(h * r))), interpolation=cv2.INTER_LINEAR)
        h, w = img.shape[:2]
    left, top = int(round((out_w - w) / 2 - 0.1)), int(round((out_h - h) / 2 - 0.1))
    img = cv2.copyMakeBorder(img, top, out_h - h - top, left, out_w - w - left, cv2.BORDER_CONSTANT,
                             value=(PAD_VALUE,) * 3)
    if not len(labels):
        return img, labels.reshape(0, 5).astype(np.float32)
    scale = np.array([w / out_w, h / out_h, w / out_w, h / out_h], np.float32)
    shift = np.array([left / out_w, top / out_h, 0, 0], np.float32)
    return img, np.concatenate([labels[:, :1], labels[:, 1:] * scale + shift], 1).astype(np.float32)
