"""Evaluation datasets: COCO (instances JSON + images) and Ultralytics YOLO (data.yaml + labels/*.txt).

Both load into a :class:`Dataset`: the images to run, the class names, each class's category id and a
COCO-format ground truth for the scorer. A problem that makes the dataset unusable raises
:class:`DatasetError` naming the file; anything that can be worked around becomes a warning naming it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .coco_ids import category_ids, class_indices, class_names, coco_image_id
from .sources import IMAGE_EXTS

COORD_TOLERANCE = 0.01  # normalised YOLO coordinates this far outside [0, 1] are clipped; further out is an error


class DatasetError(ValueError):
    """A dataset that cannot be evaluated; the message names the file and the reason."""


@dataclass
class ImageRecord:
    """One image of a dataset: its COCO image id, file and (height, width) when the annotations give it."""

    id: int
    path: Path
    file_name: str
    size: tuple[int, int] | None = None


@dataclass
class Dataset:
    """Images, classes and ground truth of a COCO or YOLO dataset, ready for COCO-style scoring."""

    kind: str  # "coco" or "yolo"
    source: Path  # the instances JSON or the data.yaml
    images: list[ImageRecord]  # the images found on disk, in a stable order
    names: dict[int, str]  # contiguous class index -> name
    category_ids: list[int]  # category id of each class index (what predictions must use)
    missing: list[ImageRecord] = field(default_factory=list)  # listed but not on disk
    warnings: list[str] = field(default_factory=list)
    coco: dict | None = field(default=None, repr=False)  # COCO: the instances JSON, verbatim
    labels: list[np.ndarray] | None = field(default=None, repr=False)  # YOLO: (n, 5) class cx cy w h per image
    label_files: list[Path] | None = field(default=None, repr=False)  # YOLO: the .txt of each image

    @property
    def categories(self) -> dict[int, str]:
        """Category id -> name."""
        if self.coco is not None:
            return {int(c["id"]): str(c.get("name", c["id"])) for c in self.coco["categories"]}
        return {cid: self.names[k] for k, cid in enumerate(self.category_ids)}

    def ground_truth(self, sizes: dict[int, tuple[int, int]] | None = None, only_sized: bool = False) -> dict:
        """COCO-format ground truth; for YOLO labels, ``sizes`` (image id -> (h, w)) saves reading headers.

        ``only_sized`` keeps only the images ``sizes`` names (YOLO; e.g. leaving out images that failed to decode).
        """
        if self.coco is not None:
            return self.coco
        return yolo_ground_truth(self, sizes, only_sized)


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


# ----------------------------------------------------------------------------------------------- COCO


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (``.json`` or ``.json.gz``), raising :class:`DatasetError` naming it on any problem."""
    import gzip

    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None


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


# ----------------------------------------------------------------------------------------------- YOLO


def yaml_module() -> Any:
    """PyYAML, imported on first use (it is an optional dependency)."""
    try:
        import yaml
    except ImportError as e:
        raise ImportError(f"pyyaml is needed for YOLO data.yaml files: pip install 'yolopt[eval]' ({e})") from e
    return yaml


def _read_yaml(path: Path) -> dict:
    yaml = yaml_module()
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: malformed YAML: {e}") from None
    if not isinstance(cfg, dict):
        raise DatasetError(f"{path}: expected a mapping with path/train/val/names")
    return cfg


def _yaml_names(path: Path, cfg: dict) -> dict[int, str]:
    names = cfg.get("names")
    if isinstance(names, list):
        out = {i: str(n) for i, n in enumerate(names)}
    elif isinstance(names, dict):
        try:
            out = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: 'names' keys must be class indices 0..nc-1") from None
    else:
        raise DatasetError(f"{path}: no 'names' (a list, or a mapping index: name)")
    if sorted(out) != list(range(len(out))):
        raise DatasetError(f"{path}: 'names' must cover class indices 0..{len(out) - 1} without gaps")
    if "nc" in cfg and cfg["nc"] != len(out):
        raise DatasetError(f"{path}: nc is {cfg['nc']} but 'names' has {len(out)} entries")
    return out


def _split_images(path: Path, root: Path, spec: Any) -> list[Path]:
    """Image files of a split given as a folder, a .txt list of images, a single image, or a list of those."""
    specs = spec if isinstance(spec, list) else [spec]
    out: list[Path] = []
    for s in specs:
        p = Path(str(s))
        p = p if p.is_absolute() else root / p
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTS and q.is_file())
        elif p.suffix == ".txt" and p.is_file():
            for line in p.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    q = Path(line.strip())
                    out.append(q if q.is_absolute() else (p.parent / q if line.startswith("./") else root / q))
        elif p.suffix.lower() in IMAGE_EXTS and p.is_file():
            out.append(p)
        else:
            raise DatasetError(f"{path}: split folder or list {p} not found")
    return out


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the label of ``.../images/x/a.jpg`` is ``.../labels/x/a.txt``."""
    s = str(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if sa in s:
        s = sb.join(s.rsplit(sa, 1))
    return Path(s).with_suffix(".txt")


def load_yolo(data_yaml: str | Path, split: str = "val") -> Dataset:
    """An Ultralytics data.yaml: ``split`` images and their ``labels/*.txt`` (class cx cy w h, normalised)."""
    path = Path(data_yaml)
    cfg = _read_yaml(path)
    names = _yaml_names(path, cfg)
    root = Path(str(cfg.get("path") or "."))
    root = root if root.is_absolute() else (path.parent / root)
    if not cfg.get(split):
        has = ", ".join(k for k in ("train", "val", "test") if cfg.get(k))
        raise DatasetError(f"{path}: no '{split}' split (has: {has})")
    files = _split_images(path, root, cfg[split])
    if not files:
        raise DatasetError(f"{path}: the '{split}' split has no images ({cfg[split]})")
    warnings: list[str] = []
    found = [f for f in files if f.is_file()]
    missing_files = [f for f in files if not f.is_file()]
    if missing_files:
        if not found:
            raise DatasetError(f"{path}: none of the {len(files)} '{split}' images exist, e.g. {missing_files[0]}")
        warnings.append(f"{path}: {len(missing_files)} listed images not found: "
                        + _few(str(f) for f in missing_files) + "; they are left out of evaluation")
    ids = [coco_image_id(str(f), -1) for f in found]
    if min(ids) < 0 or len(set(ids)) != len(ids):  # not all numeric stems, or clashes: number them
        ids = list(range(1, len(found) + 1))
    labels, label_files = [], []
    no_file, empty = [], []
    for f in found:
        lf = label_path(f)
        label_files.append(lf)
        if not lf.is_file():
            no_file.append(lf)
            labels.append(np.zeros((0, 5)))
            continue
        lab = parse_label_file(lf, len(names), warnings)
        if not len(lab):
            empty.append(lf)
        labels.append(lab)
    if len(no_file) == len(found):
        raise DatasetError(f"{path}: no label files for any of the {len(found)} '{split}' images "
                           f"(looked for e.g. {no_file[0]})")
    if no_file:
        warnings.append(f"{len(no_file)} images have no label file (evaluated as images without objects): "
                        + _few(str(p) for p in no_file))
    if empty:
        warnings.append(f"{len(empty)} label files are empty (evaluated as images without objects): "
                        + _few(str(p) for p in empty))
    records = [ImageRecord(i, f, f.name) for i, f in zip(ids, found)]
    missing = [ImageRecord(-1, f, f.name) for f in missing_files]
    return Dataset("yolo", path, records, names, category_ids(names), missing, warnings,
                   labels=labels, label_files=label_files)


def parse_label_file(path: Path, nc: int, warnings: list[str]) -> np.ndarray:
    """(n, 5) float64 rows ``class cx cy w h`` of one YOLO label file; polygons become their bounding boxes."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read label file ({e})") from None
    rows = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        return np.zeros((0, 5))
    try:
        if all(len(r) == 5 for _, r in rows):
            lab = np.array([r for _, r in rows], np.float64)
        else:
            lab = np.array([_row_box(path, n, r) for n, r in rows], np.float64)
    except DatasetError:
        raise
    except ValueError as e:
        n = next((n for n, r in rows if not _numeric(r)), rows[0][0])
        raise DatasetError(f"{path}:{n}: not numbers ({e})") from None
    line_no = np.array([n for n, _ in rows])
    cls = lab[:, 0]
    bad = (cls != np.round(cls)) | (cls < 0)
    if bad.any():
        raise DatasetError(f"{path}:{line_no[bad][0]}: class {cls[bad][0]:g} is not a class index")
    over = cls >= nc
    if over.any():
        raise DatasetError(f"{path}:{line_no[over][0]}: class {int(cls[over][0])} is beyond the dataset's "
                           f"{nc} classes (0..{nc - 1})")
    xyxy = np.concatenate([lab[:, 1:3] - lab[:, 3:5] / 2, lab[:, 1:3] + lab[:, 3:5] / 2], 1)
    out = ((xyxy < -COORD_TOLERANCE) | (xyxy > 1 + COORD_TOLERANCE)).any(1) | (lab[:, 1:] < 0).any(1)
    if out.any():
        raise DatasetError(f"{path}:{line_no[out][0]}: box {' '.join(f'{v:g}' for v in lab[out][0, 1:])} is "
                           f"outside the image: YOLO labels are normalised to [0, 1] (pixel coordinates?)")
    clipped = ((xyxy < -1e-6) | (xyxy > 1 + 1e-6)).any(1)
    if clipped.any():
        warnings.append(f"{path}: {int(clipped.sum())} boxes slightly outside the image (lines "
                        f"{_few(line_no[clipped])}) clipped to it")
        xyxy = xyxy.clip(0, 1)
        lab = np.concatenate([cls[:, None], (xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1)
    empty = (lab[:, 3] <= 0) | (lab[:, 4] <= 0)
    if empty.any():
        warnings.append(f"{path}: {int(empty.sum())} boxes with zero width or height (lines "
                        f"{_few(line_no[empty])}) ignored")
        lab = lab[~empty]
    return lab


def _numeric(fields: list[str]) -> bool:
    try:
        [float(v) for v in fields]
        return True
    except ValueError:
        return False


def _row_box(path: Path, n: int, r: list[str]) -> list[float]:
    """One label line as class cx cy w h: a box as is, a polygon (class x1 y1 x2 y2 ...) as its bounding box."""
    if len(r) == 5:
        return [float(v) for v in r]
    if len(r) == 6:
        raise DatasetError(f"{path}:{n}: 6 values; a label line is 'class cx cy w h' (a prediction file with scores?)")
    if len(r) < 7 or len(r) % 2 == 0:
        raise DatasetError(f"{path}:{n}: {len(r)} values; expected 'class cx cy w h' or 'class x1 y1 x2 y2 x3 y3 ...'")
    xy = np.array(r[1:], np.float64).reshape(-1, 2)
    lo, hi = xy.min(0), xy.max(0)
    return [float(r[0]), *((lo + hi) / 2), *(hi - lo)]


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image as the decoder delivers it (EXIF orientation applied)."""
    try:
        from PIL import Image
    except ImportError:
        from .decode import read_image

        h, w = read_image(path).shape[:2]
        return h, w
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception as e:  # PIL raises many types for bad files
        raise DatasetError(f"{path}: cannot read image size ({e})") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def yolo_ground_truth(ds: Dataset, sizes: dict[int, tuple[int, int]] | None = None,
                      only_sized: bool = False) -> dict:
    """COCO-format ground truth for a YOLO dataset: pixel boxes, box area, nothing crowd."""
    assert ds.labels is not None
    sizes = dict(sizes or {})
    keep = [i for i, r in enumerate(ds.images) if not only_sized or r.id in sizes]
    recs = [ds.images[i] for i in keep]
    labels = [ds.labels[i] for i in keep]
    for rec in recs:
        if rec.id not in sizes:
            sizes[rec.id] = rec.size or image_size(rec.path)
    images = [{"id": r.id, "file_name": r.file_name, "height": sizes[r.id][0], "width": sizes[r.id][1]}
              for r in recs]
    counts = [len(lab) for lab in labels]
    lab = np.concatenate([*labels, np.zeros((0, 5))])
    img_id = np.repeat([r.id for r in recs], counts)
    hw = np.repeat(np.array([sizes[r.id] for r in recs], np.float64).reshape(-1, 2), counts, axis=0)
    wh = hw[:, ::-1]
    box_wh = lab[:, 3:5] * wh
    xy = lab[:, 1:3] * wh - box_wh / 2
    cat = np.asarray(ds.category_ids, np.int64)[lab[:, 0].astype(np.int64)] if len(lab) else np.zeros(0, np.int64)
    area = box_wh[:, 0] * box_wh[:, 1]
    anns = [{"id": i + 1, "image_id": int(m), "category_id": int(c), "bbox": [x, y, w, h], "area": a, "iscrowd": 0}
            for i, (m, c, (x, y, w, h), a) in enumerate(zip(img_id.tolist(), cat.tolist(),
                                                              np.concatenate([xy, box_wh], 1).tolist(), area.tolist()))]
    cats = [{"id": cid, "name": name} for cid, name in ds.categories.items()]
    return {"info": {"description": f"converted from {ds.source}"}, "images": images, "annotations": anns,
            "categories": cats}


def _few(items: Any, n: int = 5) -> str:
    """'a, b, c, ... (+7 more)': the first few of a list, for messages."""
    items = [str(i) for i in items]
    more = f", ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
