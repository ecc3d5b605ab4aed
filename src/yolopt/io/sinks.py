"""Streaming writers for detections; each writes as results arrive and holds nothing back."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO, Protocol

from ..results import Detections

FORMATS = ("jsonl", "coco", "csv", "yolo")


class Sink(Protocol):
    def write(self, det: Detections) -> None: ...
    def close(self) -> None: ...


def _open_text(out: str | Path | None) -> tuple[IO[str], bool]:
    if out is None or str(out) == "-":
        return sys.stdout, False
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "w", newline=""), True


class JsonlSink:
    """One JSON object per image or frame (errors included), flushed line by line."""

    def __init__(self, out: str | Path | None = None):
        self.f, self._own = _open_text(out)

    def write(self, det: Detections) -> None:
        self.f.write(json.dumps(det.to_dict()) + "\n")
        self.f.flush()

    def close(self) -> None:
        if self._own:
            self.f.close()


class CocoSink:
    """COCO results JSON (a list of {image_id, category_id, bbox[x, y, w, h], score}), streamed element by element."""

    def __init__(self, out: str | Path | None = None, names: dict[int, str] | None = None):
        self.f, self._own = _open_text(out)
        self.f.write("[")
        self._first = True

    def write(self, det: Detections) -> None:
        if not det.ok or not len(det):
            return
        parts = [json.dumps(r) for r in det.to_coco()]  # image id from the file name, COCO ids for COCO classes
        self.f.write(("" if self._first else ",\n") + ",\n".join(parts))
        self._first = False

    def close(self) -> None:
        self.f.write("]\n")
        if self._own:
            self.f.close()
        else:
            self.f.flush()


class CsvSink:
    """One row per detection; an image with no detections or an error gets one row with empty box fields."""

    HEADER = ("source", "index", "frame", "timestamp", "x1", "y1", "x2", "y2", "score", "class_id", "class_name", "error")

    def __init__(self, out: str | Path | None = None):
        self.f, self._own = _open_text(out)
        self.w = csv.writer(self.f)
        self.w.writerow(self.HEADER)

    def write(self, det: Detections) -> None:
        head = [det.source, det.index, "" if det.frame is None else det.frame,
                "" if det.timestamp is None else round(det.timestamp, 4)]
        if not det.ok or not len(det):
            self.w.writerow(head + [""] * 7 + [det.error or ""])
            return
        for b, s, c, n in zip(det.boxes.tolist(), det.scores.tolist(), det.class_ids.tolist(), det.labels):
            self.w.writerow(head + [round(v, 3) for v in b] + [round(s, 6), c, n, ""])

    def close(self) -> None:
        if self._own:
            self.f.close()
        else:
            self.f.flush()


class YoloSink:
    """Ultralytics-style label files: ``DIR/<stem>.txt`` with ``class cx cy w h score`` normalised to [0, 1]."""

    def __init__(self, out: str | Path | None):
        if out is None or str(out) == "-":
            raise ValueError("--format yolo writes one .txt per image: give a directory with --out")
        self.dir = Path(out)
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, det: Detections) -> None:
        if not det.ok or det.shape is None:
            return
        base = Path(det.source.split("#")[0]).stem
        stem = base if det.frame is None else f"{base}_{det.frame}"
        h, w = det.shape
        lines = []
        for (x1, y1, x2, y2), s, c in zip(det.boxes.tolist(), det.scores.tolist(), det.class_ids.tolist()):
            lines.append(f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} {s:.6f}")
        (self.dir / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))

    def close(self) -> None:
        pass


def open_sink(fmt: str, out: str | Path | None, names: dict[int, str]) -> Sink:
    """The sink for ``fmt`` (one of :data:`FORMATS`) writing to ``out`` (a path, or stdout when None)."""
    if fmt == "jsonl":
        return JsonlSink(out)
    if fmt == "coco":
        return CocoSink(out, names)
    if fmt == "csv":
        return CsvSink(out)
    if fmt == "yolo":
        return YoloSink(out)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
