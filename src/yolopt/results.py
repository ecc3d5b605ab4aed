"""Typed detection results: what every stage after NMS speaks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from .data.coco_results import coco_results
from .errors import InputError


class FailedInputError(InputError):
    """``raise_for_error()`` on a result whose input could not be read or decoded; the message names it."""


class Detection(NamedTuple):
    """One detected object, as iterating a :class:`Detections` yields it."""

    box: np.ndarray  # (4,) x1, y1, x2, y2 in original-image pixels
    score: float
    class_id: int
    label: str


@dataclass
class Detections:
    """Detections for one image (or video frame), boxes in original-image pixels.

    ``boxes`` is (N, 4) float32 x1, y1, x2, y2; ``scores`` (N,) float32; ``class_ids`` (N,) int64,
    sorted by descending score. ``source`` names the input (a path, or ``path#frame``). An input that could
    not be read has ``error`` set and ``ok`` False: it is a failure, not an image without objects
    (:meth:`raise_for_error` turns it into an exception).

    Like ``supervision.Detections``: ``det[det.scores > 0.5]``, ``det[:3]`` or ``det[det.class_ids == 0]``
    give a :class:`Detections` of those rows, and ``for box, score, class_id, label in det`` walks them.
    """

    source: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.int64))
    names: dict[int, str] = field(default_factory=dict)
    shape: tuple[int, int] | None = None  # original (height, width)
    index: int = 0  # position of this item in the input stream
    frame: int | None = None  # video frame index
    timestamp: float | None = None  # video frame time in seconds
    error: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)  # original BGR image, only when asked for

    @property
    def ok(self) -> bool:
        """True when the input was read and run (its detections may still be empty); False for a failed input."""
        return self.error is None

    def raise_for_error(self) -> Detections:
        """Raise :class:`FailedInputError` if this input failed; otherwise return ``self`` (for chaining)."""
        if self.error is not None:
            raise FailedInputError(self.error)
        return self

    def __len__(self) -> int:
        return len(self.scores)

    def __iter__(self) -> Iterator[Detection]:
        labels = self.labels
        for i in range(len(self)):
            yield Detection(self.boxes[i], float(self.scores[i]), int(self.class_ids[i]), labels[i])

    def __getitem__(self, index: int | slice | np.ndarray | list) -> Detections:
        """The detections selected by a boolean mask, an index array, a slice or one position, as Detections."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return replace(self, boxes=self.boxes[index], scores=self.scores[index], class_ids=self.class_ids[index])

    @property
    def labels(self) -> list[str]:
        """Each detection's class name (the class id as text when the model has no name for it)."""
        return [self.names.get(int(c), str(int(c))) for c in self.class_ids]

    @property
    def xyxy(self) -> np.ndarray:
        """(N, 4) x1, y1, x2, y2 in pixels (the same array as ``boxes``)."""
        return self.boxes

    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) centre x, centre y, width, height in pixels."""
        b = self.boxes
        return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], 1)

    def _per_pixel(self) -> np.ndarray:
        if self.shape is None:
            raise ValueError(f"{self.source}: no image size (failed input), so no normalised boxes")
        h, w = self.shape
        return np.array([1 / w, 1 / h, 1 / w, 1 / h], np.float32)

    @property
    def xyxyn(self) -> np.ndarray:
        """(N, 4) x1, y1, x2, y2 divided by the image width and height (in [0, 1])."""
        return self.boxes * self._per_pixel()

    @property
    def xywhn(self) -> np.ndarray:
        """(N, 4) centre x, centre y, width, height divided by the image width and height (YOLO label format)."""
        return self.xywh * self._per_pixel()

    def to_dict(self) -> dict:
        """JSON-ready form: one record per image, detections as a list of dicts."""
        out: dict = {"source": self.source, "index": self.index}
        if self.frame is not None:
            out["frame"] = self.frame
            out["timestamp"] = None if self.timestamp is None else round(self.timestamp, 4)
        if self.error is not None:
            out["error"] = self.error
            return out
        if self.shape is not None:
            out["height"], out["width"] = self.shape
        out["detections"] = [
            {"box": [round(float(v), 3) for v in b], "score": round(float(s), 6), "class_id": int(c), "class_name": n}
            for b, s, c, n in zip(self.boxes, self.scores, self.class_ids, self.labels)
        ]
        return out

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (``kwargs`` go to ``json.dumps``, e.g. ``indent=2``)."""
        return json.dumps(self.to_dict(), **kwargs)

    def to_coco(self, image_id: int | None = None, category_ids: Mapping[int, int] | None = None) -> list[dict]:
        """COCO results ``[{image_id, category_id, bbox: [x, y, w, h], score}]``, rounded as every yolopt writer does.

        ``image_id`` defaults to the numeric file stem (``000000397133.jpg`` → 397133), else the input index;
        ``category_ids`` maps class ids to category ids (default: COCO's official ids for COCO's 80 classes,
        else the class id). Classes it leaves out are dropped. A failed input gives no results.
        """
        from .data.coco_ids import category_ids as default_ids, coco_image_id

        if not self.ok:
            return []
        if image_id is None:
            image_id = coco_image_id(self.source, self.index)
        if category_ids is None and self.names:
            category_ids = dict(enumerate(default_ids(self.names)))
        return coco_results(self.boxes, self.scores, self.class_ids, image_id, category_ids)

    def to_supervision(self) -> Any:
        """This image's detections as a ``supervision.Detections`` (class names in ``data["class_name"]``)."""
        from .optional import require

        sv = require("supervision", "yolopt[supervision]", "Detections.to_supervision")
        return sv.Detections(xyxy=self.boxes.astype(np.float32, copy=False), confidence=self.scores,
                             class_id=self.class_ids, data={"class_name": np.array(self.labels, dtype=str)})
