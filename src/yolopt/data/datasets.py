"""Evaluation datasets: COCO (instances JSON + images) and Ultralytics YOLO (data.yaml + labels/*.txt).

Both load into a :class:`Dataset`: the images to run, the class names, each class's category id and a
COCO-format ground truth for the scorer. A problem that makes the dataset unusable raises
:class:`DatasetError` naming the file; anything that can be worked around becomes a warning naming it.
The formats live in their own modules (``coco_dataset``, ``yolo_dataset``, file reading in ``dataset_io``);
this one picks the format of a path.
"""

from __future__ import annotations

from pathlib import Path

from .coco_dataset import load_coco
from .dataset import Dataset, ImageRecord
from .dataset_io import DatasetError, image_size, read_json, yaml_module
from .yolo_dataset import label_path, load_yolo, parse_label_file, yolo_ground_truth


def load_dataset(data: str | Path, split: str = "val", images: str | Path | None = None,
                 need_images: bool = True) -> Dataset:
    """Load a COCO dataset (folder or instances JSON) or a YOLO dataset (data.yaml or its folder).

    ``need_images=False`` (scoring saved detections) lets a COCO JSON go without its image files.
    """
    p = Path(data)
    if not p.exists():
        raise DatasetError(f"{p}: no such file or directory")
    if p.is_file():
        if p.suffix.lower() in (".yaml", ".yml"):
            return load_yolo(p, split)
        if p.suffix.lower() == ".json":
            return load_coco(p, images, need_images)
        raise DatasetError(f"{p}: expected a COCO instances .json, a data.yaml or a dataset folder")
    yamls = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
    if yamls:
        pick = [y for y in yamls if y.stem == "data"] or yamls
        if len(pick) > 1:
            raise DatasetError(f"{p}: several YAML files ({', '.join(y.name for y in pick)}); name one")
        return load_yolo(pick[0], split)
    jsons = sorted((p / "annotations").glob("*.json")) + sorted(p.glob("*.json"))
    if not jsons:
        raise DatasetError(f"{p}: no data.yaml and no COCO instances JSON (looked in {p} and {p / 'annotations'})")
    if len(jsons) > 1:
        inst = [j for j in jsons if j.name.startswith("instances_")] or jsons
        inst = [j for j in inst if split in j.stem] or inst
        if len(inst) > 1:
            raise DatasetError(f"{p}: several annotation files ({', '.join(j.name for j in inst)}); name one")
        jsons = inst
    return load_coco(jsons[0], images, need_images)



__all__ = ["Dataset", "DatasetError", "ImageRecord", "image_size", "label_path", "load_coco", "load_dataset",
           "load_yolo", "parse_label_file", "read_json", "yaml_module", "yolo_ground_truth"]
