"""Training augmentation: mosaic, random affine, HSV jitter, flip and letterbox, with the boxes moved along.

The geometric and colour transforms and their box handling are albumentations' (optional ``train`` extra); only
the centred letterbox padding of an already resized image is written here.
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


def build(imgsz: int, mosaic: bool, hyp: Hyp = Hyp()) -> Any:
    """One sample's pipeline: mosaic of 4 (or the image letterboxed) → affine → HSV → flip, output imgsz².

    Images come in resized so their long side is ``imgsz``; boxes are YOLO-normalised, clipped to the image,
    and dropped when under ``MIN_BOX_PX`` wide or high or less than ``MIN_VISIBLE`` of their area remains.
    """
    A = albumentations()
    fill = (PAD_VALUE,) * 3
    first = (A.Mosaic(grid_yx=(2, 2), target_size=(imgsz, imgsz), cell_shape=(imgsz, imgsz), center_range=(0.25, 0.75),
                      fit_mode="contain", fill=fill, p=1.0) if mosaic
             else A.PadIfNeeded(imgsz, imgsz, position="center", border_mode=cv2.BORDER_CONSTANT, fill=fill))
    return A.Compose(
        [first,
         A.Affine(scale=(1 - hyp.scale, 1 + hyp.scale), translate_percent=(-hyp.translate, hyp.translate),
                  keep_ratio=True, border_mode=cv2.BORDER_CONSTANT, fill=fill, p=1.0),
         A.ColorJitter(brightness=hyp.hsv_v, contrast=0.0, saturation=hyp.hsv_s, hue=hyp.hsv_h, p=1.0),
         A.HorizontalFlip(p=hyp.fliplr)],
        bbox_params=A.BboxParams(format="yolo", label_fields=["cls"], min_width=MIN_BOX_PX, min_height=MIN_BOX_PX,
                                 min_visibility=MIN_VISIBLE, max_accept_ratio=MAX_ASPECT, clip=True,
                                 filter_invalid_bboxes=True),
    )


def apply(pipe: Any, img: np.ndarray, labels: np.ndarray, extra: list[tuple[np.ndarray, np.ndarray]],
          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``pipe`` on one image and its (n, 5) labels (plus ``extra`` mosaic partners) with a fixed seed."""
    pipe.set_random_seed(seed)
    data: dict[str, Any] = {"image": img, "bboxes": labels[:, 1:], "cls": labels[:, 0]}
    if extra:
        data["mosaic_metadata"] = [{"image": im, "bboxes": lab[:, 1:], "cls": lab[:, 0]} for im, lab in extra]
    out = pipe(**data)
    boxes = np.asarray(out["bboxes"], np.float32).reshape(-1, 4)
    cls = np.asarray(out["cls"], np.float32).reshape(-1, 1)
    return out["image"], np.concatenate([cls, boxes], 1)


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
