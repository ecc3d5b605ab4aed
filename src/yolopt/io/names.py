"""Output file names for per-input outputs (annotated images, YOLO label files): unique and stable.

Each input keeps its own stem; a second, different input with the same stem (``a/x.jpg`` and ``b/x.jpg``,
or ``x.jpg`` and ``x.png``) gets the stem plus a short hash of its full path, so nothing is overwritten and
the same input list always gives the same names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def input_path(source: str, frame: int | None) -> str:
    """The file an output came from: a video frame's source is ``path#frame``; a still image's is its path."""
    return source.rsplit("#", 1)[0] if frame is not None else source


class OutputNames:
    """Hands out one stem per distinct input path, never the same stem to two inputs."""

    def __init__(self) -> None:
        self._by_source: dict[str, str] = {}
        self._taken: set[str] = set()

    def stem(self, source: str) -> str:
        if source in self._by_source:
            return self._by_source[source]
        stem = Path(source).stem or "input"
        if stem in self._taken:
            stem = f"{stem}-{hashlib.sha1(source.encode()).hexdigest()[:8]}"
        self._taken.add(stem)
        self._by_source[source] = stem
        return stem
