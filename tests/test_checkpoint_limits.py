"""Checkpoint loading is bounded: memo indices, nesting and storage sizes are checked before allocating."""

from __future__ import annotations

import pickle
import struct
import sys
import time
import types
import zipfile
from pathlib import Path

import pytest

from yolopt.errors import ModelError, YoloptError
from yolopt.model import load_model
from yolopt.model.ultralytics_ckpt import read_checkpoint


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def checkpoint(path: Path, pkl: bytes, storages: dict[str, bytes] | None = None, deflate: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        for key, data in (storages or {}).items():
            zf.writestr(f"archive/data/{key}", data, zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED)
    return path


def storage_pickle(numel: int) -> bytes:
    """{'t': FloatStorage persistent id} by hand: the storage a tensor of ``numel`` float32 would read."""
    return (b"\x80\x02}q\x00X\x01\x00\x00\x00tq\x01(X\x07\x00\x00\x00storageq\x02ctorch\nFloatStorage\nq\x03"
            b"X\x01\x00\x00\x000q\x04X\x03\x00\x00\x00cpuq\x05" + b"J" + struct.pack("<i", numel) + b"tq\x06Qs.")


def test_huge_memo_index_is_refused_before_allocating(tmp_path):
    pkl = b"\x80\x02}r" + struct.pack("<I", 300_000_000) + b"."  # LONG_BINPUT at index 3e8: ~2.4 GB of memo
    path = checkpoint(tmp_path / "memo.pt", pkl)
    before, t = rss_mb(), time.perf_counter()
    with pytest.raises(ModelError, match="memo index"):
        read_checkpoint(path)
    assert time.perf_counter() - t < 0.05 and rss_mb() - before < 50


def test_storage_that_inflates_or_lies_about_its_size_is_refused(tmp_path):
    n = 16 * 2**20  # 64 MiB of zeros deflates to ~64 KB
    path = checkpoint(tmp_path / "bomb.pt", storage_pickle(n), {"0": b"\0" * (4 * n)}, deflate=True)
    assert path.stat().st_size < 200_000
    before, t = rss_mb(), time.perf_counter()
    with pytest.raises(ModelError, match="inflates"):
        read_checkpoint(path)
    assert time.perf_counter() - t < 0.05 and rss_mb() - before < 50
    path = checkpoint(tmp_path / "lie.pt", storage_pickle(10), {"0": b"\0" * 4000})
    with pytest.raises(ModelError, match="needs 10 x 4"):
        read_checkpoint(path)


def test_deeply_nested_records_are_refused_not_recursion_error(tmp_path, monkeypatch):
    mod = types.ModuleType("ultralytics.nn.modules")
    for name in ("DetectionModel", "Conv"):
        cls = type(name, (), {"__module__": "ultralytics.nn.modules"})
        setattr(mod, name, cls)
    monkeypatch.setitem(sys.modules, "ultralytics", types.ModuleType("ultralytics"))
    monkeypatch.setitem(sys.modules, "ultralytics.nn", types.ModuleType("ultralytics.nn"))
    monkeypatch.setitem(sys.modules, "ultralytics.nn.modules", mod)
    leaf = mod.Conv()
    leaf.__dict__.update(_parameters={}, _buffers={}, _modules={})
    for _ in range(5000):
        parent = mod.Conv()
        parent.__dict__.update(_parameters={}, _buffers={}, _modules={"0": leaf})
        leaf = parent
    top = mod.DetectionModel()
    top.__dict__.update(_parameters={}, _buffers={}, _modules={"model": leaf}, yaml={"scale": "n"}, names={0: "a"})
    monkeypatch.setattr(sys, "getrecursionlimit", sys.getrecursionlimit)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        pkl = pickle.dumps({"model": top}, protocol=2)
    finally:
        sys.setrecursionlimit(old)
    path = checkpoint(tmp_path / "deep.pt", pkl)
    with pytest.raises(YoloptError, match=f"{path}.*nested"):
        load_model(path)


def test_storage_larger_than_any_yolov8_weight_is_refused_unread(tmp_path, monkeypatch):
    from yolopt.model import ultralytics_ckpt

    monkeypatch.setattr(ultralytics_ckpt, "MAX_TENSOR_BYTES", 4000)  # stands for 256 MiB, without writing it
    path = checkpoint(tmp_path / "big.pt", storage_pickle(2000), {"0": b"\0" * 8000})
    with pytest.raises(ModelError, match="more than any YOLOv8 weight"):
        read_checkpoint(path)
