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


def make_backend(model: str | Path | YoloModel, backend: str = "torch", **options: Any) -> Backend:
    """Build a backend by name for a model name or file."""
    if backend == "torch":
        from .backends.torch_backend import TorchBackend

        return TorchBackend(load_model(model), **options)
    raise ValueError(f"unknown backend {backend!r}; available: torch")


class Detector:
    """YOLOv8 object detector.

    >>> det = Detector("yolov8n", conf=0.25)
    >>> for r in det.predict(["images/", "clip.mp4"]):
    ...     print(r.source, len(r), r.labels)
    """

    def __init__(
        self,
        model: str | Path | YoloModel = DEFAULT_MODEL,
        backend: str = "torch",
        imgsz: int = 640,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = 300,
        classes: Iterable[int] | None = None,
        batch: int = 8,
        workers: int | None = None,
        **backend_options: Any,
    ):
        self.backend = make_backend(model, backend, **backend_options)
        self.config = PredictConfig(imgsz, conf, iou, max_det, tuple(classes) if classes is not None else None)
        if self.config.classes is not None:
            bad = [c for c in self.config.classes if c not in self.names]
            if bad:
                raise ValueError(f"classes {bad} are not in the model's {len(self.names)} classes")
        self.batch = batch
        self.workers = workers
        self.times = StageTimes()
        self.last_queue_stats: list = []  # per-queue full/empty waits of the latest predict()

    @property
    def names(self) -> dict[int, str]:
        return self.backend.names

    def predict(self, sources: Any, batch: int | None = None, keep_images: bool = False) -> Iterator[Detections]:
        """Yield one :class:`Detections` per image or video frame, in input order, failures included.

        ``keep_images`` attaches each decoded original image to its result (e.g. for drawing).
        """
        kw = {"workers": self.workers} if self.workers else {}
        engine = BatchEngine(self.backend, self.config, batch or self.batch, times=self.times,
                             keep_images=keep_images, **kw)
        self.last_queue_stats = engine.queue_stats
        yield from engine.run(sources)

    def __call__(self, image: np.ndarray | str | Path) -> Detections:
        """Detect objects in a single image (array in BGR, or a path)."""
        return next(self.predict([image], batch=1))
