"""Every measurement ``yolopt optimize`` makes, kept on disk so a re-run or a wider search reuses it.

One JSON file per machine and toolchain in ``cache_dir()/optimize/`` (the idea of ``backends/auto.py``: the
CPU model, core count and runtime versions decide speed, so they name the file); inside it, one entry per
measurement keyed by what it depends on: the model's weights digest, backend, precision, input size, run
settings and how it was measured (images, seconds).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from ...backends.auto import _read, _write, _version


def machine_id() -> str:
    """CPU, cores and the versions of yolopt and every runtime: what a speed figure depends on besides the config."""
    from ... import __version__
    from ...machine import cpu_name

    runtimes = ("torch", "onnxruntime", "openvino", "nncf", "tensorrt")
    return f"{cpu_name()}|{os.cpu_count()} cpus|yolopt={__version__}|" + ",".join(
        f"{m}={_version(m)}" for m in runtimes)


def digest(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def files_digest(paths: list[Path]) -> str:
    """A digest of a list of files by name, size and modification time (cheap; names a data set or sample)."""
    parts = []
    for p in paths:
        st = p.stat()
        parts.append(f"{p.name}:{st.st_size}:{int(st.st_mtime)}")
    return digest("\n".join(parts))


class Cache:
    """``cache.get(key)`` / ``cache.put(key, value)`` over one JSON file, written atomically after each put."""

    def __init__(self, root: Path | None = None, enabled: bool = True):
        from ...model.hub import cache_dir

        self.root = Path(root) if root is not None else cache_dir() / "optimize"
        self.path = self.root / f"measurements-{digest(machine_id())}.json"
        self.enabled = enabled
        self.data: dict[str, Any] = _read(self.path) if enabled else {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any:
        value = self.data.get(key) if self.enabled else None
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        if self.enabled:
            current = _read(self.path)  # another run may have added entries since we read the file
            current[key] = value
            _write(self.path, current)
