"""Draw detections on an image (boxes and class names), for ``--save-images``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..results import Detections
from .names import OutputNames, input_path
from .sinks import output_error


def _color(c: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(c * 7919 + 17)
    return tuple(int(v) for v in rng.integers(64, 256, 3))  # type: ignore[return-value]


def draw_detections(img: np.ndarray, det: Detections) -> np.ndarray:
    """Return a copy of ``img`` (BGR) with each detection's box, class name and score drawn."""
    out = img.copy()
    lw = max(1, round(sum(out.shape[:2]) / 600))
    for (x1, y1, x2, y2), s, c, name in zip(det.boxes.tolist(), det.scores.tolist(), det.class_ids.tolist(), det.labels):
        color = _color(int(c))
        p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
        cv2.rectangle(out, p1, p2, color, lw, cv2.LINE_AA)
        label = f"{name} {s:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, lw / 3, max(lw - 1, 1))
        top = p1[1] - th - base if p1[1] - th - base >= 0 else p1[1]
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw, top + th + base), color, -1)
        cv2.putText(out, label, (p1[0], top + th), cv2.FONT_HERSHEY_SIMPLEX, lw / 3, (0, 0, 0), max(lw - 1, 1), cv2.LINE_AA)
    return out


class AnnotatedWriter:
    """Saves annotated results under a folder: ``<stem>.jpg`` per image, ``<stem>.mp4`` per video.

    Stems are unique per input (:class:`~yolopt.io.names.OutputNames`); :meth:`write` returns an error
    message, naming the input and the file, when a write fails, so the caller reports that input as failed.
    """

    def __init__(self, folder: str | Path, fps: float = 30.0):
        self.dir = Path(folder)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(self.dir, e) from e
        self.fps = fps
        self.names = OutputNames()
        self._video: tuple[str, cv2.VideoWriter] | None = None

    def write(self, det: Detections) -> str | None:
        if det.image is None or not det.ok:
            return None
        img = draw_detections(det.image, det)
        src = input_path(det.source, det.frame)
        if det.frame is None:
            path = self.dir / f"{self.names.stem(src)}.jpg"
            if not cv2.imwrite(str(path), img):
                return f"{det.source}: could not write the annotated image {path}"
            return None
        if self._video is None or self._video[0] != src:
            self.close()
            h, w = img.shape[:2]
            path = self.dir / f"{self.names.stem(src)}.mp4"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not writer.isOpened():
                return f"{det.source}: could not open the annotated video {path} for writing"
            self._video = (src, writer)
        self._video[1].write(img)
        return None

    def close(self) -> None:
        if self._video is not None:
            self._video[1].release()
            self._video = None
