"""What an evaluation dataset is once loaded: its images, classes and COCO-format ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


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
        from .yolo_dataset import yolo_ground_truth

        return yolo_ground_truth(self, sizes, only_sized)

