"""Which files make up an exported model: the one a runtime opens, and the weights some formats keep beside it."""

from __future__ import annotations

from pathlib import Path

#: Formats written as two files: the graph a runtime opens (OpenVINO .xml, NCNN .param) and its .bin weights.
WEIGHTS_BESIDE = {".xml": ".bin", ".param": ".bin"}


def model_files(path: str | Path) -> list[Path]:
    """``path`` and the weights file beside it (OpenVINO IR, NCNN), or every file of a package folder (.mlpackage)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    side = WEIGHTS_BESIDE.get(path.suffix)
    return [path, path.with_suffix(side)] if side else [path]
