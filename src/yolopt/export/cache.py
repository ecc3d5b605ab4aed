"""Exports made on the fly for a backend, kept in the cache directory under a hash of weights and options."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from ..backends import registry
from ..model import YoloModel, load_model
from ..model.hub import cache_dir

#: Bump when the exported graph changes, so stale cached exports are not reused.
GRAPH_VERSION = 1


def weights_digest(model: YoloModel) -> str:
    """sha256 of the architecture, FP32 weights and class names: equal for a .pt and its .safetensors copy."""
    h = hashlib.sha256(f"{model.spec.scale}:{model.spec.nc}".encode())
    for k, v in sorted(model.net.state_dict().items()):
        if "num_batches_tracked" in k:
            continue
        h.update(f"{k}{tuple(v.shape)}".encode())
        h.update(v.detach().float().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(model.names, sort_keys=True).encode())
    return h.hexdigest()


def _toolchain(fmt: str) -> str:
    """What else decides the exported file: our graph, torch's exporter, and for engines the GPU and TensorRT."""
    from .. import __version__

    key = f"yolopt{__version__}/graph{GRAPH_VERSION}/torch{torch.__version__}"
    if fmt == "engine":
        import tensorrt

        key += f"/trt{tensorrt.__version__}/{torch.cuda.get_device_name()}"
    return key


def cached_export(model: str | Path | YoloModel, fmt: str, half: bool = False, imgsz: int | None = None) -> Path:
    """The path of ``model`` exported to ``fmt``, exporting it once into ``cache_dir()/exports`` if needed."""
    spec = registry.for_format(fmt)  # a clear error for an unknown format
    if fmt == "engine":
        from .tensorrt import require_tensorrt

        require_tensorrt()  # a clear error before hashing anything
    model = load_model(model)
    imgsz = imgsz or model.imgsz
    opts = f"{fmt}/half={half}/imgsz={imgsz}/{_toolchain(fmt)}"
    key = hashlib.sha256(f"{weights_digest(model)}/{opts}".encode()).hexdigest()[:16]
    folder = cache_dir() / "exports" / f"yolov8{model.spec.scale}-{fmt}{'-fp16' if half else ''}-{key}"
    path = folder / f"model{spec.suffix}"
    if path.exists():
        return path
    with building(folder) as tmp:
        spec.export(model, tmp / path.name, half, imgsz)
        (tmp / "options.txt").write_text(opts + "\n")
    return path


@contextmanager
def building(folder: Path) -> Iterator[Path]:
    """A temporary folder that becomes ``folder`` when the block ends without error: atomically, so a reader
    never sees half a cache entry (a concurrent builder that got there first wins)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        yield tmp
        try:
            tmp.rename(folder)
        except OSError:
            if not folder.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
