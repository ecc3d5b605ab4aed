"""``make_backend``: a backend by name for a model name, checkpoint or exported file, read off the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import registry
from .base import Backend


def model_suffix(model: Any) -> str:
    """The lower-case file suffix of a model path or name ("" for a loaded model or a bare name)."""
    from ..model import YoloModel

    return "" if isinstance(model, YoloModel) else Path(str(model)).suffix.lower()


def set_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options a caller actually set: ``None`` means "the backend's default" everywhere, so it is dropped here."""
    return {k: v for k, v in options.items() if v is not None}


def make_backend(model: Any, backend: str = "auto", imgsz: int | None = None, **options: Any) -> Backend:
    """Build a backend by name for a model name or file.

    ``auto`` runs an exported file on its own runtime (.onnx on onnxruntime, .xml on openvino, ...) and a model
    name or checkpoint on the fastest installed backend that is exact at FP32 on this machine (measured once,
    see :mod:`yolopt.backends.auto`). An exported-model backend given a .pt, .safetensors or model name exports
    it once into the cache (``yolopt.export.cached_export``); ``precision="fp16"`` exports FP16 weights, and
    where the exported file is built for a size (TensorRT) ``imgsz`` bounds its input. For backends whose
    precision is a runtime setting (torch, openvino) ``precision`` is passed on. Options set to ``None`` are
    the backend's defaults.
    """
    from ..model import load_model

    options = set_options(options)
    suffix = model_suffix(model)
    own = registry.for_suffix(suffix)
    if backend == "auto":
        from .auto import resolve

        if own is None:
            model = load_model(model)  # once, for the measurement and for the backend
        backend = resolve(model, imgsz, options).name
    spec = registry.get(backend)
    precision = options.get("precision")
    if spec.exporter is None:  # runs the model itself
        if own is not None:
            raise ValueError(f"{model}: an exported {suffix} file runs on backend {own.name!r} (or 'auto'), "
                             f"not {spec.name}")
        return spec.build(load_model(model), **options)
    if not spec.precision_option:
        options.pop("precision", None)
    if own is not None or suffix in spec.suffixes:
        if suffix not in spec.suffixes:
            raise ValueError(f"{model}: backend {spec.name!r} reads {', '.join(spec.suffixes)} files, not {suffix}")
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(f"model {model!r}: no such file")
    else:
        if precision is not None and precision not in spec.precisions:
            raise ValueError(f"precision {precision!r}: backend {spec.name!r} takes {' or '.join(spec.precisions)}")
        from ..export.cache import cached_export

        path = cached_export(model, spec.export_format, half=precision == "fp16",  # type: ignore[arg-type]
                             imgsz=imgsz if spec.sizes_engine else None)
    be = spec.build(path, **options)
    file_precision = getattr(be, "precision", None)
    if not spec.precision_option and precision is not None and file_precision != precision:
        raise ValueError(f"{path} holds a {file_precision} model, not {precision}")
    return be
