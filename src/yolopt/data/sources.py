"""Turn what the user names (files, folders, globs, videos, arrays) into a lazy stream of items."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".dib", ".jpe"})
VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".gif"})


@dataclass
class Item:
    """One unit of work: an image file to decode, an already-decoded frame/array, or a failure to report."""

    index: int
    source: str
    path: Path | None = None  # to be read and decoded by a worker
    image: np.ndarray | None = None  # already decoded (video frame, array input), BGR uint8
    frame: int | None = None
    timestamp: float | None = None
    error: str | None = None


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in sorted order, streamed directory by directory (no full listing in memory)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise OSError(f"{folder}: cannot list directory ({e.strerror or e})") from e
    for entry in entries:
        if entry.is_dir(follow_symlinks=True):
            yield from _walk(Path(entry.path))
        elif Path(entry.name).suffix.lower() in IMAGE_EXTS | VIDEO_EXTS:
            yield Path(entry.path)


def expand(sources: Iterable[str | Path]) -> Iterator[Path | str]:
    """Expand folders (recursively, media files only) and glob patterns; yields paths, or error strings."""
    for src in sources:
        s = str(src)
        p = Path(s)
        if p.is_dir():
            try:
                yield from _walk(p)
            except OSError as e:
                yield f"!{e}"
        elif p.exists() or os.path.lexists(s):
            yield p
        elif glob.has_magic(s):
            matches = sorted(glob.glob(s, recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                yield f"!{s}: glob pattern matched no files"
            yield from files
        else:
            yield f"!{s}: no such file or directory"


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTS


def video_frames(path: Path, start_index: int) -> Iterator[Item]:
    """Decode a video sequentially; each frame carries its index and timestamp (seconds)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        yield Item(start_index, str(path), error=f"{path}: cannot open video (unsupported format, codec or corrupt file)")
        return
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    frame = 0
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            ts = frame / fps if fps > 0 else None
            yield Item(start_index + frame, f"{path}#{frame}", image=img, frame=frame, timestamp=ts)
            frame += 1
    finally:
        cap.release()
    if frame == 0:
        yield Item(start_index, str(path), error=f"{path}: video has no decodable frames")


def iter_items(sources: Iterable[Any]) -> Iterator[Item]:
    """Lazily turn sources into items with consecutive indices; arrays (H, W, 3 BGR uint8) pass through."""
    index = 0
    flat: list[Any] = []
    for s in sources if not isinstance(sources, (str, Path, np.ndarray)) else [sources]:
        if isinstance(s, np.ndarray):
            if flat:
                for item in _from_paths(flat, index):
                    index = item.index + 1
                    yield item
                flat = []
            yield Item(index, f"array{index}", image=s)
            index += 1
        else:
            flat.append(s)
    for item in _from_paths(flat, index):
        yield item


def _from_paths(sources: list[Any], index: int) -> Iterator[Item]:
    for p in expand(sources):
        if isinstance(p, str):  # an expansion error
            yield Item(index, p[1:].split(":")[0], error=p[1:])
            index += 1
        elif is_video(p):
            last = index - 1
            for item in video_frames(p, index):
                last = item.index
                yield item
            index = last + 1
        else:
            yield Item(index, str(p), path=p)
            index += 1
