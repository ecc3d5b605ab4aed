"""Turn what the user names (files, folders, globs, videos, arrays) into a lazy stream of items."""

from __future__ import annotations

import glob
import os
import time
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
    decode_s: float = 0.0  # time already spent decoding ``image`` (a video frame), counted as the decode stage


def _walk(folder: Path, seen: set[tuple[int, int]]) -> Iterator[Path | str]:
    """Media files under ``folder`` in sorted order, streamed directory by directory.

    Each real directory is visited once (``seen`` holds (device, inode) pairs, so symlink loops and links
    to a parent end); an entry that cannot be examined yields an error string ``"!path: reason"`` and the
    walk goes on with the next entry.
    """
    try:
        st = folder.stat()
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as e:
        yield f"!{folder}: cannot list directory ({e.strerror or e})"
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError as e:  # ELOOP, EACCES on the entry itself
            yield f"!{entry.path}: cannot examine ({e.strerror or e})"
            continue
        if is_dir:
            yield from _walk(Path(entry.path), seen)
        elif Path(entry.name).suffix.lower() in IMAGE_EXTS | VIDEO_EXTS:
            yield Path(entry.path)


def expand(sources: Iterable[str | Path]) -> Iterator[Path | str]:
    """Expand folders (recursively, media files only) and glob patterns; yields paths, or error strings
    ``"!source: reason"`` (one per input that cannot be listed or found)."""
    for src in sources:
        s = str(src)
        p = Path(s)
        if p.is_dir():
            yield from _walk(p, set())
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


def error_source(error: str) -> str:
    """The path an expansion error (``"!path: reason"``) is about."""
    return error[1:].rsplit(": ", 1)[0] if ": " in error else error[1:]


def pending(sources: Iterable[Any], done: set[str]) -> Iterator[Any]:
    """``sources`` expanded, without the files whose results are already in ``done`` (for ``--resume``).

    Arrays pass through; an entry that fails to expand is passed as its path, so it fails again as before.
    """
    for src in sources if not isinstance(sources, (str, Path, np.ndarray)) else [sources]:
        if isinstance(src, np.ndarray):
            yield src
            continue
        for p in expand([src]):
            key = error_source(p) if isinstance(p, str) else str(p)
            if key not in done:
                yield key if isinstance(p, str) else p


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
            t = time.perf_counter()
            ok, img = cap.read()
            if not ok:
                break
            ts = frame / fps if fps > 0 else None
            yield Item(start_index + frame, f"{path}#{frame}", image=img, frame=frame, timestamp=ts,
                       decode_s=time.perf_counter() - t)
            frame += 1
    finally:
        cap.release()
    if frame == 0:
        yield Item(start_index, str(path), error=f"{path}: video has no decodable frames")


def count_items(sources: Iterable[Any]) -> int | None:
    """How many items ``iter_items`` will yield (images, video frames from the container's frame count), for a
    progress total; None when a video does not say how many frames it has."""
    total = 0
    for s in sources if not isinstance(sources, (str, Path, np.ndarray)) else [sources]:
        for p in [s] if isinstance(s, np.ndarray) else expand([s]):
            if isinstance(p, Path) and is_video(p):
                cap = cv2.VideoCapture(str(p))
                frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 1
                cap.release()
                if frames <= 0:
                    return None
                total += frames
            else:
                total += 1
    return total


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
            yield Item(index, error_source(p), error=p[1:])
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
