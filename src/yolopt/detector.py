"""``Detector``: the one object a Python user needs — load a model, pick a backend, predict over anything."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .backends import registry
from .backends.factory import make_backend, model_suffix, set_options
from .data.decode import MAX_PIXELS
from .engine import BatchEngine, PredictConfig, StageTimes, detect_prepared, prepare
from .model import DEFAULT_MODEL, YoloModel, load_model
from .results import Detections


def check_batch(batch: int | str) -> int | str:
    """``batch`` if it is a positive int or ``"auto"``; a ValueError saying what is expected otherwise."""
    if batch != "auto" and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise ValueError(f"batch must be a positive integer or 'auto', got {batch!r}")
    return batch


class Detector:
    """YOLOv8 object detector.

    >>> det = Detector("yolov8n", conf=0.25)
    >>> for r in det.predict(["images/", "clip.mp4"]):
    ...     print(r.source, len(r), r.labels)

    ``backend="auto"`` runs an exported file on its own runtime, and a model name or checkpoint on the fastest
    installed backend that is exact at FP32 on this machine (measured once, :mod:`yolopt.backends.auto`);
    ``backend_reason`` says why. ``batch`` defaults to 1: on a CPU the backend's streams already run images
    side by side, and batch 1 is as fast as batch 8 there with far less memory and latency (BENCHMARKS.md);
    on a GPU pass a larger batch or ``"auto"``.

    A Detector holds no per-run state: several threads may call :meth:`predict` (each gets its own engine)
    or ``det(image)`` at once; pass ``times`` to :meth:`predict` to collect a run's per-stage timings.
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
        max_pixels: int | None = MAX_PIXELS,
        **backend_options: Any,
    ):
        # every argument is checked before the backend is built: a bad one must not cost an export first
        self.config = PredictConfig(imgsz, conf, iou, max_det, tuple(classes) if classes is not None else None,
                                    max_pixels)
        if self.config.classes is not None and any(not isinstance(c, (int, np.integer)) or c < 0
                                                   for c in self.config.classes):
            raise ValueError(f"classes must be non-negative class ids, got {list(self.config.classes)}")
        self.batch = check_batch(batch)
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        options = set_options(backend_options)
        if backend == "auto":
            from .backends.auto import resolve

            if registry.for_suffix(model_suffix(model)) is None:
                model = load_model(model)  # loaded once, for the choice and for the backend
            choice = resolve(model, imgsz, options)
            backend, self.backend_reason = choice.name, f"auto: {choice.reason}"
        else:
            self.backend_reason = "as asked"
        self.backend = make_backend(model, backend, imgsz=imgsz, **options)
        if self.config.classes is not None:
            bad = [c for c in self.config.classes if c not in self.names]
            if bad:
                raise ValueError(f"classes {bad} are not in the model's {len(self.names)} classes")
        self._auto_batch: int | None = None
        self._lock = threading.Lock()

    @property
    def names(self) -> dict[int, str]:
        return self.backend.names

    def resolve_batch(self, batch: int | str | None = None) -> int:
        """The batch size to run: ``"auto"`` is measured once on this backend (see ``engine.autobatch``)."""
        batch = check_batch(batch or self.batch)
        if batch != "auto":
            return int(batch)
        with self._lock:  # measured once, whichever thread asks first
            if self._auto_batch is None:
                from .engine.autobatch import auto_batch

                self._auto_batch = auto_batch(self.backend, (self.config.imgsz, self.config.imgsz))
            return self._auto_batch

    def engine(self, batch: int | str | None = None, times: StageTimes | None = None,
               keep_images: bool = False) -> BatchEngine:
        """A fresh pipelined engine for one run over this detector's backend (its ``queue_stats`` are that run's)."""
        kw = {"workers": self.workers} if self.workers else {}
        return BatchEngine(self.backend, self.config, self.resolve_batch(batch), times=times or StageTimes(),
                           keep_images=keep_images, **kw)

    def predict(self, sources: Any, batch: int | str | None = None, keep_images: bool = False,
                times: StageTimes | None = None) -> Iterator[Detections]:
        """Yield one :class:`Detections` per image or video frame, in input order, failures included.

        ``batch`` overrides the detector's (an int or ``"auto"``); ``keep_images`` attaches each decoded
        original image to its result (e.g. for drawing); ``times`` collects this run's per-stage seconds.
        """
        yield from self.engine(batch, times, keep_images).run(sources)

    def __call__(self, image: np.ndarray | str | Path) -> Detections:
        """Detect objects in a single image (array in BGR, or a path), in the calling thread."""
        from .data.sources import iter_items

        item = next(iter_items([image]))
        prep = prepare(item, self.config.imgsz, max_pixels=self.config.max_pixels)
        if prep.error is not None:
            return Detections(item.source, index=item.index, names=self.names, error=prep.error)
        return detect_prepared(self.backend, [prep], self.config)[0]


__all__ = ["Detector", "check_batch", "make_backend"]
