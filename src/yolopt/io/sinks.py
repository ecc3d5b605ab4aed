"""Streaming writers for detections; each writes as results arrive, and every write is checked.

A write that fails (full disk, unwritable path) raises :class:`~yolopt.errors.OutputError` naming the file,
so a job never reports success for output that is not there.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path
from typing import IO, Protocol

from ..errors import OutputError, os_reason
from ..results import Detections
from .names import OutputNames, input_path

FORMATS = ("jsonl", "coco", "csv", "yolo")


class Sink(Protocol):
    def write(self, det: Detections) -> None: ...
    def close(self) -> None: ...


def output_error(path: str | Path, e: OSError) -> OutputError:
    """An :class:`OutputError` naming ``path`` and why it could not be written."""
    return OutputError(f"{path}: cannot write ({os_reason(e)})")


class TextOut:
    """A text file (or stdout) whose writes are flushed and checked; ``replace`` publishes ``tmp`` atomically."""

    def __init__(self, out: str | Path | None, mode: str = "w", atomic: bool = False):
        self.name = "<stdout>" if out is None or str(out) == "-" else str(out)
        self.path = None if self.name == "<stdout>" else Path(self.name)
        self._tmp = None
        if self.path is None:
            self.f: IO[str] = sys.stdout
            return
        target = self.path
        if atomic:
            self._tmp = target = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.f = open(target, mode, newline="")
        except OSError as e:
            raise output_error(self.name, e) from e

    def write(self, text: str) -> None:
        try:
            self.f.write(text)
            self.f.flush()
        except OSError as e:
            raise output_error(self.name, e) from e

    def close(self) -> None:
        try:
            if self.path is None:
                self.f.flush()
                return
            self.f.close()
            if self._tmp is not None:
                self._tmp.replace(self.path)
        except OSError as e:
            raise output_error(self.name, e) from e


def completed_sources(path: str | Path) -> set[str]:
    """Sources already in a JSONL output, after cutting off a last line that a kill left half-written."""
    p = Path(path)
    if not p.exists():
        return set()
    with open(p, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            f.truncate(end)
    done = set()
    for line in data[:end].splitlines():
        if line.strip():
            done.add(json.loads(line)["source"])
    return done


class JsonlSink:
    """One JSON object per image or frame (errors included), flushed line by line.

    With ``resume=True`` the file is appended to and records whose source is already in it are skipped,
    so a killed job restarted on the same inputs ends with each input exactly once.
    """

    def __init__(self, out: str | Path | None = None, resume: bool = False):
        if resume and (out is None or str(out) == "-"):
            raise ValueError("--resume needs an output file (--out dets.jsonl)")
        self.done = completed_sources(out) if resume else set()  # type: ignore[arg-type]
        self.out = TextOut(out, "a" if resume else "w")

    def write(self, det: Detections) -> None:
        if det.source in self.done:
            return
        self.out.write(json.dumps(det.to_dict()) + "\n")

    def close(self) -> None:
        self.out.close()


class CocoSink:
    """COCO results JSON (a list of {image_id, category_id, bbox[x, y, w, h], score}).

    A file output is written to a temporary file and renamed into place on close, so ``out`` is either
    absent or a complete, valid JSON document; stdout gets the elements as they come.
    """

    def __init__(self, out: str | Path | None = None):
        self.out = TextOut(out, atomic=True)
        self.out.write("[")
        self._first = True

    def write(self, det: Detections) -> None:
        if not det.ok or not len(det):
            return
        parts = [json.dumps(r) for r in det.to_coco()]  # image id from the file name, COCO ids for COCO classes
        self.out.write(("" if self._first else ",\n") + ",\n".join(parts))
        self._first = False

    def close(self) -> None:
        self.out.write("]\n")
        self.out.close()


class CsvSink:
    """One row per detection, flushed as written; an image with no detections or an error gets one row with
    empty box fields."""

    HEADER = ("source", "index", "frame", "timestamp", "x1", "y1", "x2", "y2", "score", "class_id", "class_name", "error")

    def __init__(self, out: str | Path | None = None):
        self.out = TextOut(out)
        self._buf = io.StringIO()
        self.w = csv.writer(self._buf)
        self._emit([self.HEADER])

    def _emit(self, rows: list) -> None:
        self.w.writerows(rows)
        self.out.write(self._buf.getvalue())
        self._buf.seek(0)
        self._buf.truncate()

    def write(self, det: Detections) -> None:
        head = [det.source, det.index, "" if det.frame is None else det.frame,
                "" if det.timestamp is None else round(det.timestamp, 4)]
        if not det.ok or not len(det):
            self._emit([head + [""] * 7 + [det.error or ""]])
            return
        self._emit([head + [round(v, 3) for v in b] + [round(s, 6), c, n, ""]
                    for b, s, c, n in zip(det.boxes.tolist(), det.scores.tolist(), det.class_ids.tolist(), det.labels)])

    def close(self) -> None:
        self.out.close()


class YoloSink:
    """Ultralytics-style label files: ``DIR/<stem>.txt`` with ``class cx cy w h score`` normalised to [0, 1];
    a video frame goes to ``<stem>_<frame>.txt``; inputs sharing a stem get distinct names (:class:`OutputNames`)."""

    def __init__(self, out: str | Path | None):
        if out is None or str(out) == "-":
            raise ValueError("--format yolo writes one .txt per image: give a directory with --out")
        self.dir = Path(out)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise output_error(self.dir, e) from e
        self.names = OutputNames()

    def write(self, det: Detections) -> None:
        if not det.ok or det.shape is None:
            return
        base = self.names.stem(input_path(det.source, det.frame))
        stem = base if det.frame is None else f"{base}_{det.frame}"
        h, w = det.shape
        lines = []
        for (x1, y1, x2, y2), s, c in zip(det.boxes.tolist(), det.scores.tolist(), det.class_ids.tolist()):
            lines.append(f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} {s:.6f}")
        path = self.dir / f"{stem}.txt"
        try:
            path.write_text("".join(line + "\n" for line in lines))
        except OSError as e:
            raise output_error(path, e) from e

    def close(self) -> None:
        pass


def open_sink(fmt: str, out: str | Path | None, resume: bool = False) -> Sink:
    """The sink for ``fmt`` (one of :data:`FORMATS`) writing to ``out`` (a path, or stdout when None)."""
    if resume and fmt != "jsonl":
        raise ValueError(f"--resume works with --format jsonl (the output records which inputs are done), not {fmt}")
    if fmt == "jsonl":
        return JsonlSink(out, resume)
    if fmt == "coco":
        return CocoSink(out)
    if fmt == "csv":
        return CsvSink(out)
    if fmt == "yolo":
        return YoloSink(out)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
