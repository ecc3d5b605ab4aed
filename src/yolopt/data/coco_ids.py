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


def category_ids(names: dict[int, str]) -> list[int]:
    """Category id of each contiguous class 0..n-1: COCO's official ids for COCO's 80 classes, else the index."""
    return list(COCO80_TO_91) if is_coco80(names) else list(range(len(names)))


def class_indices(categories: list[dict]) -> dict[int, int]:
    """Contiguous class index for each category id of a COCO ``categories`` list.

    COCO's own categories (ids and names as in :data:`COCO80_TO_91`) keep COCO's 80-class order even when
    only some are present; any other set is numbered in ascending id order.
    """
    ids = [int(c["id"]) for c in categories]
    if _are_coco(categories):
        return {i: COCO91_TO_80[i] for i in ids}
    return {i: k for k, i in enumerate(sorted(set(ids)))}


def _are_coco(categories: list[dict]) -> bool:
    """True when every category is one of COCO's own (official id with its official name)."""
    return bool(categories) and all(
        c["id"] in COCO91_TO_80 and COCO_NAMES[COCO91_TO_80[c["id"]]] == c.get("name") for c in categories)


def class_names(categories: list[dict]) -> dict[int, str]:
    """Class names in the order of :func:`class_indices` (all 80 for COCO's own categories)."""
    if _are_coco(categories):
        return dict(enumerate(COCO_NAMES))
    index = class_indices(categories)
    by_id = {int(c["id"]): str(c.get("name", c["id"])) for c in categories}
    return {k: by_id[i] for i, k in index.items()}


def model_to_categories(model_names: dict[int, str], categories: dict[int, str]) -> dict[int, int]:
    """Which dataset category each model class predicts, matched by name (case-insensitive).

    ``categories`` maps category id → name. Falls back to COCO's official ids when the model has COCO's 80
    classes and every category id is a COCO id (a dataset that renamed COCO classes). Model classes with no
    counterpart are left out.
    """
    by_name = {n.strip().lower(): cid for cid, n in categories.items()}
    out = {c: by_name[n.strip().lower()] for c, n in model_names.items() if n.strip().lower() in by_name}
    if len(out) < len(categories) and is_coco80(model_names) and all(c in COCO91_TO_80 for c in categories):
        return {c: COCO80_TO_91[c] for c in range(80) if COCO80_TO_91[c] in categories}
    return out
