"""``Detector``: the one object a Python user needs — load a model, pick a backend, predict over anything."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .backends.base import Backend
from .engine import BatchEngine, PredictConfig, StageTimes
from .model import DEFAULT_MODEL, YoloModel, load_model
from .results import Detections


#: The backend that runs each exported file type (``backend="auto"`` picks it from the model path).
BACKEND_FOR_SUFFIX = {".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt"}
#: What each exported-model backend runs: the format a model is converted to on the fly, the files it reads.
EXPORTED_BACKENDS = {
    "onnxruntime": ("onnx", (".onnx",)),
    "openvino": ("openvino", (".xml", ".onnx")),
    "tensorrt": ("engine", (".engine",)),
}
BACKENDS = ("auto", "torch", *EXPORTED_BACKENDS)


def _exported_backend(backend: str, path: Path, options: dict[str, Any]) -> Backend:
    if backend == "onnxruntime":
        from .backends.onnxruntime_backend import ORTBackend

        return ORTBackend(path, **options)
    if backend == "openvino":
        from .backends.openvino_backend import OpenVINOBackend

        return OpenVINOBackend(path, **options)
    from .backends.tensorrt_backend import TensorRTBackend

    return TensorRTBackend(path, **options)


def make_backend(model: str | Path | YoloModel, backend: str = "auto", imgsz: int | None = None,
                 **options: Any) -> Backend:
    """Build a backend by name for a model name or file.

    ``auto`` runs .onnx on onnxruntime, .xml on openvino, .engine on tensorrt and anything else on torch.
    An exported-model backend given a .pt, .safetensors or model name exports it once into the cache
    (``yolopt.export.cached_export``); ``precision="fp16"`` exports FP16 weights, and for TensorRT ``imgsz``
    bounds the engine's input size. For openvino, ``precision`` is the inference precision (fp32, fp16, bf16).
    """
    suffix = "" if isinstance(model, YoloModel) else Path(str(model)).suffix.lower()
    exported = BACKEND_FOR_SUFFIX.get(suffix)
    if backend == "auto":
        backend = exported or "torch"
    if backend == "torch":
        if exported:
            raise ValueError(f"{model}: an exported {suffix} file runs on backend {exported!r} (or 'auto'), not torch")
        from .backends.torch_backend import TorchBackend

        return TorchBackend(load_model(model), **options)
    if backend not in EXPORTED_BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    fmt, readable = EXPORTED_BACKENDS[backend]
    precision = options.get("precision") if backend == "openvino" else options.pop("precision", None)
    if exported:
        if suffix not in readable:
            raise ValueError(f"{model}: backend {backend!r} reads {', '.join(readable)} files, not {suffix}")
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(f"model {model!r}: no such file")
    else:
        if backend != "openvino" and precision not in (None, "fp32", "fp16"):
            raise ValueError(f"precision {precision!r}: backend {backend!r} takes fp32 or fp16")
        from .export import cached_export

        path = cached_export(model, fmt, half=precision == "fp16", imgsz=imgsz if fmt == "engine" else None)
    be = _exported_backend(backend, path, options)
    file_precision = getattr(be, "precision", None)
    if backend != "openvino" and precision is not None and file_precision != precision:
        raise ValueError(f"{path} holds a {file_precision} model, not {precision}")
    return be


class Detector:
    """YOLOv8 object detector.

    >>> det = Detector("yolov8n", conf=0.25)
    >>> for r in det.predict(["images/", "clip.mp4"]):
    ...     print(r.source, len(r), r.labels)

    ``batch`` defaults to 1: on a CPU the backend's streams already run images side by side, and batch 1
    measured as fast as batch 8 or faster, with far less memory and latency (BENCHMARKS.md). On a GPU
    pass a larger batch or ``"auto"``.
    """

    def __init__(
        self,
        model: str | Path | YoloModel = DEFAULT_MODEL,
        backend: str = "auto",
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: Iterable[int] | None = None,
        batch: int | str = 1,
        workers: int | None = None,
        **backend_options: Any,
    ):
        self.backend = make_backend(model, backend, imgsz=imgsz, **backend_options)
        self.config = PredictConfig(imgsz, conf, iou, max_det, tuple(classes) if classes is not None else None)
        if self.config.classes is not None:
            bad = [c for c in self.config.classes if c not in self.names]
            if bad:
                raise ValueError(f"classes {bad} are not in the model's {len(self.names)} classes")
        if batch != "auto" and (not isinstance(batch, int) or batch < 1):
            raise ValueError(f"batch must be a positive integer or 'auto', got {batch!r}")
        self.batch = batch
        self.workers = workers
        self.times = StageTimes()
        self.last_queue_stats: list = []  # per-queue full/empty waits of the latest predict()

    @property
    def names(self) -> dict[int, str]:
        return self.backend.names

    def resolve_batch(self, batch: int | str | None = None) -> int:
        """The batch size to run: ``"auto"`` is measured once on this backend (see ``engine.autobatch``)."""
        batch = batch or self.batch
        if batch == "auto":
            from .engine.autobatch import auto_batch

            self.batch = batch = auto_batch(self.backend, (self.config.imgsz, self.config.imgsz))
        return int(batch)

    def predict(self, sources: Any, batch: int | str | None = None, keep_images: bool = False) -> Iterator[Detections]:
        """Yield one :class:`Detections` per image or video frame, in input order, failures included.

        ``batch`` overrides the detector's (an int or ``"auto"``); ``keep_images`` attaches each decoded
        original image to its result (e.g. for drawing).
        """
        kw = {"workers": self.workers} if self.workers else {}
        engine = BatchEngine(self.backend, self.config, self.resolve_batch(batch), times=self.times,
                             keep_images=keep_images, **kw)
        self.last_queue_stats = engine.queue_stats
        yield from engine.run(sources)

    def __call__(self, image: np.ndarray | str | Path) -> Detections:
        """Detect objects in a single image (array in BGR, or a path)."""
        return next(self.predict([image], batch=1))
