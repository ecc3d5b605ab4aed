"""Typed detection results: what every stage after NMS speaks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detections:
    """Detections for one image (or video frame), boxes in original-image pixels.

    ``boxes`` is (N, 4) float32 x1, y1, x2, y2; ``scores`` (N,) float32; ``class_ids`` (N,) int64,
    sorted by descending score. ``source`` names the input (a path, or ``path#frame``), ``error``
    is set instead of detections when the input could not be read.
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
        return self.error is None

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def labels(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_ids]

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
