"""Training records and samples: images with normalised boxes from a COCO folder or a YOLO data.yaml.

COCO goes through :mod:`yolopt.data`'s loader (the evaluation one); a YOLO data.yaml's split and label files are
read here, leniently, so a malformed line costs that line (a warning naming file and line), not the whole run.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..data.datasets import DatasetError as DataError
from ..data.datasets import image_size, label_path, load_dataset, yaml_module
from ..data.decode import DecodeError, read_image
from ..data.sources import IMAGE_EXTS
from ..errors import YoloptError
from . import augment as aug

log = logging.getLogger("yolopt.train")


class DatasetError(YoloptError, ValueError):
    """A training dataset that cannot be used (empty, no labels, class id beyond the names); raised before training."""


@dataclass
class Records:
    """Images of a training split, each with its (n, 5) float32 labels ``class cx cy w h`` normalised to the image."""

    source: str
    paths: list[Path]
    labels: list[np.ndarray]
    shapes: np.ndarray  # (n, 2) original (h, w)
    names: list[str]
    skipped_images: list[str] = field(default_factory=list)
    skipped_lines: list[str] = field(default_factory=list)


def load_records(data: str | Path, split: str = "train") -> Records:
    """Read a COCO folder / instances JSON or a YOLO data.yaml into :class:`Records`, checking what training needs."""
    p = Path(data)
    yamls = [p] if p.suffix.lower() in (".yaml", ".yml") else sorted(p.glob("*.y*ml")) if p.is_dir() else []
    yamls = [y for y in yamls if y.stem == "data"] or (yamls if len(yamls) == 1 else [])  # else: the loader says
    skipped_lines: list[str] = []
    if yamls:
        paths, names = _yolo_split(yamls[0], split)
        labels = [read_labels(label_path(q), len(names), skipped_lines) for q in paths]
    else:
        try:
            ds = load_dataset(data, split)
        except DataError as e:
            raise DatasetError(str(e)) from None
        for w in ds.warnings:
            log.warning(w)
        names = [ds.names[k] for k in range(len(ds.names))]
        paths = [r.path for r in ds.images]
        labels = _coco_labels(ds) if ds.kind == "coco" else [lab.astype(np.float32) for lab in ds.labels or []]
    if not paths:
        raise DatasetError(f"{data}: no images")
    shapes, bad = _image_shapes(paths)
    for q, why in bad:
        log.warning(f"{q}: skipped ({why})")
    keep = [i for i in range(len(paths)) if shapes[i, 0] > 0]
    rec = Records(str(data), [paths[i] for i in keep], [labels[i] for i in keep], shapes[keep], names,
                  [str(q) for q, _ in bad], skipped_lines)
    if not rec.paths:
        raise DatasetError(f"{data}: no usable images ({len(bad)} unreadable)")
    if not any(len(lab) for lab in rec.labels):
        raise DatasetError(f"{data}: none of its {len(rec.paths)} images has a label: nothing to train on")
    if bad or skipped_lines:
        log.warning(f"{data}: skipped {len(bad)} unreadable images and {len(skipped_lines)} malformed label lines")
    return rec


def is_image_folder(data: str | Path) -> bool:
    """True for a folder of images with no dataset description (no data.yaml, no COCO JSON): unlabeled images."""
    p = Path(data)
    return p.is_dir() and not any(p.glob("*.y*ml")) and not any(p.glob("*.json")) and \
        not any((p / "annotations").glob("*.json"))


def unlabeled_records(folder: str | Path, names: list[str]) -> Records:
    """A folder of images without labels, for label-free distillation (``names``: the teacher's classes)."""
    from ..data.inputs import image_files

    paths = image_files([folder])
    if not paths:
        raise DatasetError(f"{folder}: no images")
    shapes, bad = _image_shapes(paths)
    for q, why in bad:
        log.warning(f"{q}: skipped ({why})")
    keep = [i for i in range(len(paths)) if shapes[i, 0] > 0]
    if not keep:
        raise DatasetError(f"{folder}: no usable images ({len(bad)} unreadable)")
    return Records(str(folder), [paths[i] for i in keep], [np.zeros((0, 5), np.float32) for _ in keep],
                   shapes[keep], list(names), [str(q) for q, _ in bad])


def _yolo_split(path: Path, split: str) -> tuple[list[Path], list[str]]:
    """Image files and class names of one split of a data.yaml (a folder, a .txt list of images, or a list)."""
    try:
        cfg = yaml_module().safe_load(path.read_text(encoding="utf-8"))
    except Exception as e:  # missing file, bad YAML, bad encoding: all one message naming the file
        raise DatasetError(f"{path}: cannot read ({e})") from None
    if not isinstance(cfg, dict) or not cfg.get(split):
        raise DatasetError(f"{path}: no '{split}' split")
    names = cfg.get("names")
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else names
    if not isinstance(names, list) or not names:
        raise DatasetError(f"{path}: 'names' must list the class names")
    root = Path(str(cfg.get("path") or "."))
    root = root if root.is_absolute() else path.parent / root
    out: list[Path] = []
    for s in cfg[split] if isinstance(cfg[split], list) else [cfg[split]]:
        q = Path(str(s)) if Path(str(s)).is_absolute() else root / str(s)
        if q.is_dir():
            out += sorted(f for f in q.rglob("*") if f.suffix.lower() in IMAGE_EXTS)
        elif q.suffix == ".txt" and q.is_file():
            lines = [ln.strip() for ln in q.read_text(encoding="utf-8").splitlines() if ln.strip()]
            out += [Path(ln) if Path(ln).is_absolute() else root / ln for ln in lines]
        elif q.is_file():
            out.append(q)
        else:
            raise DatasetError(f"{path}: '{split}' folder or list {q} not found")
    return out, [str(n) for n in names]


def _coco_labels(ds: Any) -> list[np.ndarray]:
    """Per image: the non-crowd boxes with positive size as ``class cx cy w h`` normalised to the image."""
    from ..data.coco_ids import class_indices

    index = class_indices(ds.coco["categories"])
    by_image: dict[int, list] = {}
    for a in ds.coco["annotations"]:
        if not a.get("iscrowd", 0) and a["bbox"][2] > 0 and a["bbox"][3] > 0:
            by_image.setdefault(a["image_id"], []).append([index[a["category_id"]], *a["bbox"]])
    out = []
    for r in ds.images:
        lab = np.asarray(by_image.get(r.id, []), np.float64).reshape(-1, 5)
        h, w = r.size
        xyxy = np.concatenate([lab[:, 1:3], lab[:, 1:3] + lab[:, 3:5]], 1) / [w, h, w, h]
        xyxy = xyxy.clip(0, 1)
        box = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1)
        out.append(np.concatenate([lab[:, :1], box], 1).astype(np.float32))
    return out


def read_labels(path: Path, nc: int, skipped: list[str]) -> np.ndarray:
    """One YOLO label file as (n, 5) float32; bad lines are skipped with a warning naming file and line.

    A class id >= ``nc`` is a :class:`DatasetError`: it means the labels and the names disagree, not one typo.
    """
    if not path.is_file():
        return np.zeros((0, 5), np.float32)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        skipped.append(f"{path}: cannot read ({e})")
        log.warning(skipped[-1])
        return np.zeros((0, 5), np.float32)
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        row, why = _parse_line(line.split())
        if row is not None and row[0] >= nc:
            raise DatasetError(f"{path}:{n}: class {int(row[0])} is beyond the dataset's {nc} classes (0..{nc - 1})")
        if row is None:
            skipped.append(f"{path}:{n}: {why}")
            log.warning(f"{path}:{n}: {why}; line skipped")
        else:
            rows.append(row)
    return np.asarray(rows, np.float32).reshape(-1, 5)


def _parse_line(fields: list[str]) -> tuple[list[float] | None, str]:
    """``class cx cy w h`` (or a polygon, as its bounding box) from one label line, or None and why not."""
    try:
        v = [float(x) for x in fields]
    except ValueError:
        return None, f"not numbers: {' '.join(fields)!r}"
    if len(v) != 5 and (len(v) < 7 or len(v) % 2 == 0):
        return None, f"{len(v)} values; expected 'class cx cy w h' or a polygon 'class x1 y1 x2 y2 x3 y3 ...'"
    if v[0] < 0 or v[0] != int(v[0]):
        return None, f"class {v[0]:g} is not a class index"
    if len(v) > 5:
        xy = np.asarray(v[1:]).reshape(-1, 2)
        lo, hi = xy.min(0), xy.max(0)
        v = [v[0], *((lo + hi) / 2), *(hi - lo)]
    cx, cy, w, h = v[1:]
    if w <= 0 or h <= 0 or min(cx - w / 2, cy - h / 2) < -0.01 or max(cx + w / 2, cy + h / 2) > 1.01:
        return None, f"box {cx:g} {cy:g} {w:g} {h:g} is empty or outside the image (labels are normalised to 0..1)"
    x0, y0, x1, y1 = np.clip([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0, 1)
    return [v[0], (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], ""


def _image_shapes(paths: list[Path]) -> tuple[np.ndarray, list[tuple[Path, str]]]:
    """(h, w) of each image from its header (0, 0 where it cannot be read) and the unreadable ones with why."""
    def one(p: Path) -> tuple[int, int] | str:
        try:
            return image_size(p)
        except DataError as e:
            return str(e).removeprefix(f"{p}: ")

    with ThreadPoolExecutor(8) as ex:
        got = list(ex.map(one, paths))
    bad = [(p, g) for p, g in zip(paths, got) if isinstance(g, str)]
    return np.array([g if not isinstance(g, str) else (0, 0) for g in got], np.int64).reshape(-1, 2), bad


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The seed of one sample's augmentation: depends on (seed, epoch, index) only, not on which worker runs it."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class TrainDataset(torch.utils.data.Dataset):
    """Decoded, resized (long side ``imgsz``) images with their labels; ``__getitem__`` takes a :class:`Key`."""

    def __init__(self, records: Records, imgsz: int, augment: bool = True, cache: str | None = None,
                 seed: int = 0, hyp: aug.Hyp | None = None) -> None:
        if cache not in (None, "ram"):
            raise DatasetError(f"cache must be 'ram' or none, not {cache!r}")
        self.records, self.imgsz, self.augment, self.seed = records, imgsz, augment, seed
        self.hyp = hyp or aug.Hyp()
        self.names = list(records.names)
        self.nc = len(self.names)
        self._cache: list[np.ndarray | None] | None = None
        self._pipeline: Any = None  # built in the worker on first use
        if cache == "ram":
            self._fill_cache()

    def __len__(self) -> int:
        return len(self.records.paths)

    def _fill_cache(self) -> None:
        """Decode and resize every image once, in threads (OpenCV releases the GIL); workers inherit the cache."""
        def one(i: int) -> np.ndarray | None:
            try:
                return self._read(i)
            except DecodeError as e:
                log.warning(f"{e}; skipped")
                return None

        with ThreadPoolExecutor(8) as ex:
            self._cache = list(ex.map(one, range(len(self))))
        mb = sum(c.nbytes for c in self._cache if c is not None) / 2**20
        log.info(f"cached {sum(c is not None for c in self._cache)} images in RAM ({mb:.0f} MB)")

    def _read(self, i: int) -> np.ndarray:
        """Image ``i`` decoded (BGR) and resized so its long side is ``imgsz``."""
        img = read_image(self.records.paths[i])
        h, w = img.shape[:2]
        r = self.imgsz / max(h, w)
        if r != 1:
            img = cv2.resize(img, (max(1, round(w * r)), max(1, round(h * r))), interpolation=cv2.INTER_LINEAR)
        return img

    def load(self, i: int) -> tuple[np.ndarray, int, list[str]]:
        """Image ``i`` or, when it cannot be decoded, the next one that can (a corrupt file costs one sample, not
        the run): the image, the index used and the paths that failed."""
        bad: list[str] = []
        for k in range(len(self)):
            j = (i + k) % len(self)
            if self._cache is not None:
                if self._cache[j] is not None:
                    return self._cache[j], j, bad
                continue
            try:
                return self._read(j), j, bad
            except DecodeError as e:
                log.warning(f"{e}; skipped")
                bad.append(str(self.records.paths[j]))
        raise DatasetError(f"{self.records.source}: no image could be decoded")

    def __getitem__(self, key: tuple) -> tuple[np.ndarray, np.ndarray, str, list[str]]:
        """(3 x H x W RGB uint8, (n, 5) labels normalised to it, path, unreadable paths met) for ``key`` =
        (index, epoch, mosaic, (h, w) or None for imgsz²)."""
        i, epoch, mosaic, shape = key
        img, j, bad = self.load(i)
        labels = self.records.labels[j]
        if self.augment:
            rng = np.random.default_rng(sample_seed(self.seed, epoch, i))
            if mosaic:
                items = [(img, labels)]
                for o in rng.integers(0, len(self), 3):
                    im, k, b = self.load(int(o))
                    items.append((im, self.records.labels[k]))
                    bad += b
                img, labels = aug.mosaic4(items, self.imgsz, rng)
            if self._pipeline is None:
                self._pipeline = aug.build(self.imgsz, self.hyp)
            img, labels = aug.apply(self._pipeline, img, labels, int(rng.integers(2**31)))
        else:
            img, labels = aug.pad_to(img, labels, tuple(shape) if shape is not None else (self.imgsz, self.imgsz))
        chw = np.ascontiguousarray(img[..., ::-1].transpose(2, 0, 1))
        return chw, labels, str(self.records.paths[j]), bad
