"""COCO's 80 detection classes and their official (non-contiguous) category ids — the one mapping."""

from __future__ import annotations

COCO_NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)
#: COCO category id of each contiguous class index 0..79.
COCO80_TO_91 = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
    35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
)
COCO91_TO_80 = {c: i for i, c in enumerate(COCO80_TO_91)}


def is_coco80(names: dict[int, str]) -> bool:
    """True when a model's classes are COCO's 80, in COCO order."""
    return len(names) == 80 and all(names.get(i) == n for i, n in enumerate(COCO_NAMES))


def coco_image_id(source: str, fallback: int) -> int:
    """COCO image id from a file name like ``000000397133.jpg``; ``fallback`` when the stem is not numeric."""
    from pathlib import PurePath

    stem = PurePath(source.split("#")[0]).stem
    return int(stem) if stem.isdigit() and "#" not in source else fallback
