"""Convert detection ground truth between COCO instances JSON and Ultralytics YOLO txt labels.

Class ids go through :mod:`yolopt.data.coco_ids` (COCO's own categories keep COCO's 80-class order), so a
round trip returns the original category ids. YOLO txt has no way to mark crowd regions: COCO
``iscrowd`` annotations are left out of the labels and counted in the report.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .coco_ids import class_indices
from .datasets import Dataset, load_coco, load_dataset, load_yolo, yaml_module


@dataclass
class ConvertReport:
    """What a conversion wrote and what it had to leave out."""

    out: Path  # data.yaml (to YOLO) or the instances JSON (to COCO)
    images: int
    boxes: int
    crowd_skipped: int = 0
    negatives: int = 0  # images with no boxes
    warnings: list[str] = field(default_factory=list)


def convert(src: str | Path, out: str | Path, split: str = "val", images: str | Path | None = None,
            copy_images: bool = False) -> ConvertReport:
    """COCO (JSON or folder) to a YOLO dataset folder, or YOLO (data.yaml or folder) to a COCO JSON."""
    ds = load_dataset(src, split, images)
    if ds.kind == "coco":
        return coco_to_yolo(ds, out, split, copy_images=copy_images)
    return yolo_to_coco(ds, out)


def coco_to_yolo(src: str | Path | Dataset, out_dir: str | Path, split: str = "val",
                 images: str | Path | None = None, copy_images: bool = False) -> ConvertReport:
    """Write ``out_dir/labels/<split>/*.txt``, ``out_dir/images/<split>/`` (links, or copies) and ``data.yaml``."""
    yaml = yaml_module()
    ds = src if isinstance(src, Dataset) else load_coco(src, images)
    assert ds.coco is not None, "coco_to_yolo needs a COCO dataset"
    out_dir = Path(out_dir)
    img_dir, lab_dir = out_dir / "images" / split, out_dir / "labels" / split
    index = class_indices(ds.coco["categories"])
    anns = [a for a in ds.coco["annotations"] if not a.get("iscrowd", 0)]
    crowd = len(ds.coco["annotations"]) - len(anns)
    row_of = {r.id: i for i, r in enumerate(ds.images)}
    anns = [a for a in anns if a["image_id"] in row_of]  # images not on disk cannot be in a YOLO dataset
    rows = np.asarray([row_of[a["image_id"]] for a in anns], np.int64)
    cls = np.asarray([index[a["category_id"]] for a in anns], np.int64)
    box = np.asarray([a["bbox"] for a in anns], np.float64).reshape(-1, 4)
    hw = np.asarray([r.size for r in ds.images], np.float64).reshape(-1, 2)
    wh = hw[rows][:, ::-1]
    xyxy = (np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], 1) / np.tile(wh, 2)).clip(0, 1)
    keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    rows, cls, xyxy = rows[keep], cls[keep], xyxy[keep]
    cxcywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1)
    order = np.argsort(rows, kind="stable")
    counts = np.bincount(rows, minlength=len(ds.images))
    lines = [f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, (x, y, w, h) in
             zip(cls[order].tolist(), cxcywh[order].tolist())]
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i, rec in enumerate(ds.images):
        label = lab_dir / Path(rec.file_name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text("".join(lines[starts[i]:starts[i + 1]]))
        _place_image(rec.path, img_dir / rec.file_name, copy_images)
    names = dict(sorted(ds.names.items()))
    data_yaml = out_dir / "data.yaml"
    data_yaml.write_text(
        f"# converted by yolopt from {ds.source}\n"
        + yaml.safe_dump({"path": ".", split: f"images/{split}", "nc": len(names), "names": names},
                         sort_keys=False, allow_unicode=True))
    warnings = list(ds.warnings)
    if crowd:
        warnings.append(f"{crowd} crowd (iscrowd=1) annotations left out: YOLO labels cannot mark crowd regions")
    if (~keep).any():
        warnings.append(f"{int((~keep).sum())} boxes with no area inside their image left out")
    return ConvertReport(data_yaml, len(ds.images), int(keep.sum()), crowd, int((counts == 0).sum()), warnings)


def yolo_to_coco(src: str | Path | Dataset, out_json: str | Path, split: str = "val") -> ConvertReport:
    """Write the COCO instances JSON of a YOLO dataset split (boxes in pixels, area = box area)."""
    ds = src if isinstance(src, Dataset) else load_yolo(src, split)
    gt = ds.ground_truth()
    out_json = Path(out_json)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(gt, f)
    negatives = len(ds.images) - len({a["image_id"] for a in gt["annotations"]})
    return ConvertReport(out_json, len(gt["images"]), len(gt["annotations"]), 0, negatives, list(ds.warnings))


def _place_image(src: Path, dst: Path, copy: bool) -> None:
    """Put an image where a YOLO layout expects it: a symbolic link (default) or a copy."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        if dst.resolve() == src.resolve():
            return
        dst.unlink()
    if copy:
        shutil.copy2(src, dst)
    else:
        os.symlink(src.resolve(), dst)
