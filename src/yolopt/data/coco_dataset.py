"""COCO detection datasets: an instances JSON and its images, checked and loaded into a :class:`Dataset`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .coco_ids import category_ids, class_indices, class_names
from .dataset import Dataset, ImageRecord
from .dataset_io import DatasetError, few as _few, read_json


def _image_dirs(ann: Path, images: str | Path | None) -> list[Path]:
    """Where a COCO JSON's ``file_name``s may live: ``images`` if given, else the usual layouts around it."""
    if images is not None:
        d = Path(images)
        if not d.is_dir():
            raise DatasetError(f"{d}: images folder not found")
        return [d]
    split = ann.stem.removeprefix("instances_")
    cands = []
    for root in (ann.parent.parent, ann.parent):
        cands += [root / "images" / split, root / "images", root / split, root]
    return list(dict.fromkeys(c for c in cands if c.is_dir()))


def load_coco(ann: str | Path, images: str | Path | None = None, need_images: bool = True) -> Dataset:
    """A COCO instances JSON and its images (``images`` folder, or found beside the JSON)."""
    ann = Path(ann)
    gt = read_json(ann)
    if not isinstance(gt, dict):
        raise DatasetError(f"{ann}: expected a COCO instances object with images/annotations/categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(gt.get(key), list):
            raise DatasetError(f"{ann}: no '{key}' list: not a COCO instances file (or has no ground truth)")
    warnings: list[str] = []
    cats = gt["categories"]
    for i, c in enumerate(cats):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int):
            raise DatasetError(f"{ann}: categories[{i}] has no integer 'id'")
    cat_set = {c["id"] for c in cats}
    if len(cat_set) != len(cats):
        raise DatasetError(f"{ann}: duplicate category ids")

    img_ids: dict[int, dict] = {}
    for i, im in enumerate(gt["images"]):
        if not isinstance(im, dict) or not all(k in im for k in ("id", "file_name", "width", "height")):
            raise DatasetError(f"{ann}: images[{i}] needs id, file_name, width and height")
        if im["id"] in img_ids:
            raise DatasetError(f"{ann}: images[{i}]: duplicate image id {im['id']}")
        img_ids[im["id"]] = im
    _check_coco_annotations(ann, gt["annotations"], img_ids, cat_set, warnings)

    dirs = _image_dirs(ann, images)
    found: list[ImageRecord] = []
    missing: list[ImageRecord] = []
    for im in gt["images"]:
        rec = ImageRecord(int(im["id"]), Path(im["file_name"]), str(im["file_name"]),
                          (int(im["height"]), int(im["width"])))
        hit = next((d / im["file_name"] for d in dirs if (d / im["file_name"]).is_file()), None)
        if hit is None:
            missing.append(rec)
        else:
            rec.path = hit
            found.append(rec)
    if missing and need_images:
        where = ", ".join(str(d) for d in dirs) or "(no image folder found)"
        if not found:
            raise DatasetError(f"{ann}: none of its {len(missing)} images found (looked in {where})")
        warnings.append(f"{ann}: {len(missing)} of {len(gt['images'])} images not found (looked in {where}): "
                        + _few(m.file_name for m in missing) + "; they are left out of evaluation")
    names = class_names(cats)
    index = class_indices(cats)
    ids = [0] * len(names)
    for cid, k in index.items():
        ids[k] = cid
    if len(names) > len(index):  # COCO's 80 classes with some categories absent from the JSON
        ids = category_ids(names)
    return Dataset("coco", ann, found, names, ids, missing, warnings, coco=gt)


def _check_coco_annotations(ann: Path, anns: list, images: dict[int, dict], cats: set[int],
                            warnings: list[str]) -> None:
    """Reject annotations that point nowhere or have no box; warn about empty or out-of-image boxes."""
    for i, a in enumerate(anns):
        if not isinstance(a, dict):
            raise DatasetError(f"{ann}: annotations[{i}] is not an object")
        if a.get("image_id") not in images:
            raise DatasetError(f"{ann}: annotation {a.get('id', i)} refers to unknown image id {a.get('image_id')}")
        if a.get("category_id") not in cats:
            raise DatasetError(f"{ann}: annotation {a.get('id', i)} has category id {a.get('category_id')}, "
                               f"which is not in its categories")
        b = a.get("bbox")
        if not (isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) for v in b)):
            raise DatasetError(f"{ann}: annotation {a.get('id', i)} has no valid bbox [x, y, w, h] ({b!r})")
    if not anns:
        return
    box = np.asarray([a["bbox"] for a in anns], np.float64)
    wh = np.asarray([(images[a["image_id"]]["width"], images[a["image_id"]]["height"]) for a in anns], np.float64)
    ids = np.asarray([a.get("id", i) for i, a in enumerate(anns)])
    empty = (box[:, 2] <= 0) | (box[:, 3] <= 0)
    if empty.any():
        warnings.append(f"{ann}: {int(empty.sum())} annotations with zero or negative width/height "
                        f"(ids {_few(ids[empty])})")
    outside = (box[:, 0] < -1) | (box[:, 1] < -1) | (box[:, :2] + box[:, 2:] > wh + 1).any(1)
    if outside.any():
        warnings.append(f"{ann}: {int(outside.sum())} boxes extend more than 1 px outside their image "
                        f"(ids {_few(ids[outside])})")

