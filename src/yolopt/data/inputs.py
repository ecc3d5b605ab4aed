"""Path (or bytes, or array) → network input: read, decode and letterbox in one place; and the one image lister.

The engine, the server, bench, calibration and the profiler all feed the network through :func:`load_input`,
so an image reaches every backend as the same (3, H, W) uint8 RGB array.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .decode import MAX_PIXELS, decode_bytes, read_bytes
from .letterbox import LetterboxInfo, letterbox_chw
from .sources import expand, is_video


@dataclass
class NetworkInput:
    """One decoded image as the network takes it, how its boxes map back, and the decoded original (BGR)."""

    chw: np.ndarray  # (3, H, W) uint8 RGB, letterboxed
    info: LetterboxInfo
    image: np.ndarray  # (h, w, 3) uint8 BGR original


def load_input(source: str | Path | bytes | np.ndarray, imgsz: int = 640, stride: int = 32,
               name: str | None = None, times: Any = None, max_pixels: int | None = MAX_PIXELS) -> NetworkInput:
    """Read (a path), decode (bytes) and letterbox one image; a :class:`~yolopt.data.decode.DecodeError` names it.

    An array is taken as an already decoded BGR image. ``times``, if given, gets ``add(stage, seconds)`` for the
    read, decode and letterbox stages (a :class:`~yolopt.engine.StageTimes`).
    """
    t0 = time.perf_counter()
    t_read = t_decoded = t0
    if isinstance(source, np.ndarray):
        img = source
    else:
        data = source if isinstance(source, (bytes, bytearray, memoryview)) else read_bytes(source)
        t_read = time.perf_counter()
        img = decode_bytes(data, name or (str(source) if isinstance(source, (str, Path)) else "<bytes>"), max_pixels)
        t_decoded = time.perf_counter()
    chw, info = letterbox_chw(img, imgsz, stride)
    if times is not None:
        times.add("read", t_read - t0)
        times.add("decode", t_decoded - t_read)
        times.add("letterbox", time.perf_counter() - t_decoded)
    return NetworkInput(chw, info, img)


def load_inputs(paths: Iterable[str | Path], imgsz: int = 640) -> list[np.ndarray]:
    """Every image's (3, H, W) network input, decoded once (e.g. for inference-only timing)."""
    return [load_input(p, imgsz).chw for p in paths]


def image_files(sources: Iterable[str | Path], errors: list[str] | None = None) -> list[Path]:
    """The image files that sources (files, folders, globs) name, in order; videos are left out.

    Sources that name nothing (a missing file, a glob without matches) are skipped, their messages appended to
    ``errors`` when given.
    """
    out = []
    for p in expand(list(sources)):
        if isinstance(p, str):
            if errors is not None:
                errors.append(p[1:])
        elif not is_video(p):
            out.append(p)
    return out
