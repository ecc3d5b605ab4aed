"""Ultralytics YOLO datasets: a data.yaml, its image split and ``labels/*.txt`` (class cx cy w h, normalised)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .coco_ids import category_ids, coco_image_id
from .dataset import Dataset, ImageRecord
from .dataset_io import DatasetError, few as _few, image_size, read_yaml as _read_yaml
from .sources import IMAGE_EXTS

COORD_TOLERANCE = 0.01  # normalised YOLO coordinates this far outside [0, 1] are clipped; further out is an error


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

