"""Calibration images for post-training quantization: read, checked and letterboxed as the graph takes them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .errors import QuantizeError

#: Fewer images than this cannot give stable activation ranges (NNCF's default subset is 300).
MIN_CALIB_IMAGES = 10
#: Images whose median longest side is below imgsz / this are thumbnails, not the domain the model will see.
TINY_FACTOR = 4


def image_list(data: str | Path | list) -> list[Path]:
    """Image files named by ``data`` (folder, file, glob or list of them); missing sources are errors."""
    from ..data.inputs import image_files

    missing: list[str] = []
    paths = image_files(list(data) if isinstance(data, (list, tuple)) else [data], missing)
    if missing:
        raise QuantizeError(f"calibration data: {missing[0]}")
    return paths


def spread(paths: list[Path], limit: int | None) -> list[Path]:
    """At most ``limit`` of ``paths``, evenly spaced so a sorted folder's later images are represented too."""
    if not limit or len(paths) <= limit:
        return paths
    return [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]


def calibration_inputs(data: str | Path | list, imgsz: int = 640,
                       limit: int | None = 300) -> tuple[list[np.ndarray], list[Path]]:
    """Calibration inputs as the exported graph takes them, (1, 3, H, W) uint8 RGB letterboxed; and their paths.

    Raises :class:`QuantizeError` naming the data when fewer than ``MIN_CALIB_IMAGES`` images are found,
    when any image cannot be read, or when the images are far smaller than ``imgsz`` (wrong domain).
    """
    from ..data.inputs import load_input

    paths = spread(image_list(data), limit)
    if len(paths) < MIN_CALIB_IMAGES:
        raise QuantizeError(f"calibration data {data}: {len(paths)} images found, at least {MIN_CALIB_IMAGES} are "
                            "needed (a few hundred images like the ones the model will see are best)")
    inputs, longest, bad = [], [], []
    for p in paths:  # letterboxed as read: only the network inputs are held, not every decoded original
        try:
            inp = load_input(p, imgsz)
        except Exception as e:  # noqa: BLE001 - every decode failure is reported with its file
            bad.append(str(e))
            continue
        longest.append(max(inp.image.shape[:2]))
        inputs.append(inp.chw[None])
    if bad:
        raise QuantizeError(f"calibration data {data}: {len(bad)} of {len(paths)} images could not be read: "
                            + "; ".join(bad[:3]) + (" ..." if len(bad) > 3 else ""))
    if np.median(longest) < imgsz / TINY_FACTOR:
        raise QuantizeError(f"calibration data {data}: images are {int(np.median(longest))} px on their longest side "
                            f"(median), far below the model's input size {imgsz}: calibrate on full-size images "
                            "from the domain the model will run on, not thumbnails")
    return inputs, paths


def _digest(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


def overlap(calib: list[Path], val_paths: list[Path]) -> list[Path]:
    """Calibration images that are also validation images (same bytes, whatever their names)."""
    vals = {_digest(p) for p in val_paths if p.is_file()}
    return [p for p in calib if _digest(p) in vals]
