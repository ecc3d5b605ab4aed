"""The one table of backends: what each runs, which files it reads, the format a model is exported to for it,
the precisions it takes and how to build it. Detector, export, quantize, bench and serve read it; adding a
runtime (e.g. TFLite, NCNN) is one :func:`register` call with a :class:`BackendSpec`."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable


def _load(target: str) -> Callable[..., Any]:
    """``"package.module:attr"`` → the attribute, imported now (runtimes are imported only when used)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class BackendSpec:
    """One inference runtime and the exported file format it runs.

    ``suffixes``: the model files it reads, its own format's first (``auto`` runs a file on the backend whose
    first suffix it has). ``export_format`` / ``exporter``: the format a model name, .pt or .safetensors is
    converted to on the fly, and the ``export_x(model, out, half, imgsz)`` function writing it (``None`` for
    torch, which runs the model itself). ``precision_option``: ``precision`` is passed to the factory (a
    runtime setting, e.g. OpenVINO's inference precision) rather than chosen by the exported file.
    ``auto``: a candidate for ``backend="auto"`` on a model name or checkpoint, i.e. it gives PyTorch FP32's
    results on this CPU (batch-exact, same mAP). ``requires``: modules that must import for it to run.
    """

    name: str
    factory: str  # "module:Class" taking (model or path, **options)
    suffixes: tuple[str, ...] = ()
    export_format: str | None = None
    exporter: str | None = None  # "module:function"
    precisions: tuple[str, ...] = ("fp32",)
    precision_option: bool = False
    auto: bool = False
    requires: tuple[str, ...] = ()
    sizes_engine: bool = False  # the exported file is built for at most ``imgsz`` (TensorRT): imgsz is part of it

    @property
    def suffix(self) -> str:
        """The suffix of the file this backend's format is written as."""
        return self.suffixes[0] if self.suffixes else ""

    def installed(self) -> bool:
        """Whether every module this runtime needs can be imported (checked without importing it)."""
        try:
            return all(importlib.util.find_spec(m) is not None for m in self.requires)
        except (ImportError, ValueError):
            return False

    def build(self, source: Any, **options: Any) -> Any:
        """The backend for ``source`` (a loaded model for torch, an exported file for the others)."""
        return _load(self.factory)(source, **options)

    def export(self, model: Any, out: Any, half: bool = False, imgsz: int | None = None) -> Any:
        """Write ``model`` in this backend's format to ``out``; returns the written path."""
        if self.exporter is None:
            raise ValueError(f"backend {self.name!r} runs models directly; it has no export format")
        return _load(self.exporter)(model, out, half, imgsz)


_REGISTRY: dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add (or replace) a backend; its export format and suffixes become known to every command."""
    _REGISTRY[spec.name] = spec
    return spec


def backend_names() -> tuple[str, ...]:
    """Every registered backend, in registration order."""
    return tuple(_REGISTRY)


def get(name: str) -> BackendSpec:
    """The spec of backend ``name``; a ValueError listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; available: auto, {', '.join(_REGISTRY)}") from None


def export_formats() -> dict[str, BackendSpec]:
    """Export format name → the backend that runs it (e.g. ``"engine"`` → tensorrt)."""
    return {s.export_format: s for s in _REGISTRY.values() if s.export_format}


def for_format(fmt: str) -> BackendSpec:
    """The backend whose export format is ``fmt``; a ValueError listing the formats otherwise."""
    formats = export_formats()
    if fmt not in formats:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(formats)}")
    return formats[fmt]


def for_suffix(suffix: str) -> BackendSpec | None:
    """The backend that runs files with ``suffix`` by default (its own format), or None for anything else."""
    suffix = suffix.lower()
    return next((s for s in _REGISTRY.values() if suffix and s.suffix == suffix), None)


def readers(suffix: str) -> list[BackendSpec]:
    """Every backend that can read files with ``suffix`` (e.g. .onnx: onnxruntime and openvino)."""
    return [s for s in _REGISTRY.values() if suffix.lower() in s.suffixes]


register(BackendSpec("torch", "yolopt.backends.torch_backend:TorchBackend", precisions=("fp32", "fp16", "bf16"),
                     precision_option=True, auto=True, requires=("torch",)))
register(BackendSpec("onnxruntime", "yolopt.backends.onnxruntime_backend:ORTBackend", (".onnx",), "onnx",
                     "yolopt.export.onnx:export_onnx", ("fp32", "fp16"), auto=True,
                     requires=("onnxruntime", "onnx")))
register(BackendSpec("openvino", "yolopt.backends.openvino_backend:OpenVINOBackend", (".xml", ".onnx"), "openvino",
                     "yolopt.export.openvino:export_openvino", ("fp32", "fp16", "bf16"), precision_option=True,
                     auto=True, requires=("openvino", "onnx")))
register(BackendSpec("tensorrt", "yolopt.backends.tensorrt_backend:TensorRTBackend", (".engine",), "engine",
                     "yolopt.export.tensorrt:export_engine", ("fp32", "fp16"), requires=("tensorrt",),
                     sizes_engine=True))
# mobile formats: static input square (imgsz is part of the file), verified against PyTorch when written;
# CoreML has no Linux runtime, so it is an export format only (yolopt.export.MOBILE), not a backend
register(BackendSpec("tflite", "yolopt.backends.tflite_backend:TFLiteBackend", (".tflite",), "tflite",
                     "yolopt.export.mobile:export_tflite_verified", ("fp32", "fp16"), requires=("ai_edge_litert",),
                     sizes_engine=True))
register(BackendSpec("ncnn", "yolopt.backends.ncnn_backend:NCNNBackend", (".param",), "ncnn",
                     "yolopt.export.mobile:export_ncnn_verified", ("fp32", "fp16"), requires=("ncnn",),
                     sizes_engine=True))
