"""The batch engine: decode in a worker pool, bucket by letterboxed shape, infer, postprocess, emit in order."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from ..backends.base import Backend
from ..data.decode import DecodeError, read_image
from ..data.letterbox import LetterboxInfo, letterbox
from ..data.sources import Item, iter_items
from ..ops import postprocess, scale_boxes
from ..results import Detections
from .timing import StageTimes


@dataclass(frozen=True)
class PredictConfig:
    """Everything that determines an image's result (besides the image and the model)."""

    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"conf must be in [0, 1], got {self.conf}")
        if not 0.0 <= self.iou <= 1.0:
            raise ValueError(f"iou must be in [0, 1], got {self.iou}")
        if self.max_det < 1:
            raise ValueError(f"max_det must be >= 1, got {self.max_det}")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f"imgsz must be a positive multiple of 32, got {self.imgsz}")


@dataclass
class Prepared:
    """An item after decode and letterbox: the network input and how to map boxes back, or an error."""

    item: Item
    chw: np.ndarray | None = None  # (3, H, W) uint8 RGB, letterboxed
    info: LetterboxInfo | None = None
    error: str | None = None
    image: np.ndarray | None = None  # the decoded original, kept only for drawing


def prepare(item: Item, imgsz: int, times: StageTimes | None = None, keep_image: bool = False) -> Prepared:
    """Read, decode and letterbox one item (runs in a worker thread; OpenCV releases the GIL)."""
    if item.error is not None:
        return Prepared(item, error=item.error)
    try:
        t0 = time.perf_counter()
        img = item.image if item.image is not None else read_image(item.path)  # type: ignore[arg-type]
        t1 = time.perf_counter()
        lb, info = letterbox(img, imgsz)
        chw = np.ascontiguousarray(lb[..., ::-1].transpose(2, 0, 1))
        t2 = time.perf_counter()
    except DecodeError as e:
        return Prepared(item, error=str(e))
    except Exception as e:  # anything else about this one input must not end the job
        return Prepared(item, error=f"{item.source}: {type(e).__name__}: {e}")
    if times is not None:
        times.add("decode", t1 - t0)
        times.add("letterbox", t2 - t1)
    return Prepared(item, chw, info, image=img if keep_image else None)


@dataclass
class BatchEngine:
    """Streams items through decode → letterbox → backend → NMS and yields :class:`Detections` in input order.

    Images are batched only with images of the same letterboxed shape, and every stage treats images
    independently, so an image's detections depend on (image, model, config) alone.
    Memory is bounded by ``batch``, ``workers`` and ``max_pending``, whatever the input length.
    """

    backend: Backend
    config: PredictConfig = field(default_factory=PredictConfig)
    batch: int = 8
    workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    max_pending: int | None = None  # prepared images held across shape buckets before a forced flush
    times: StageTimes = field(default_factory=StageTimes)
    keep_images: bool = False  # attach each decoded original to its Detections (for drawing)

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        self.max_pending = self.max_pending or 4 * self.batch

    def run(self, sources: Iterable) -> Iterator[Detections]:
        items = iter_items(sources)
        window = max(2 * self.batch, 2 * self.workers)
        done: dict[int, Detections] = {}
        next_index = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="yolopt-decode") as pool:
            inflight: OrderedDict[int, Future[Prepared]] = OrderedDict()
            buckets: dict[tuple[int, int], list[Prepared]] = {}
            pending = 0

            def submit_more() -> bool:
                while len(inflight) < window:
                    item = next(items, None)
                    if item is None:
                        return bool(inflight)
                    inflight[item.index] = pool.submit(prepare, item, self.config.imgsz, self.times, self.keep_images)
                return True

            more = submit_more()
            while more or pending:
                ready: list[Prepared] = []
                if inflight:
                    idx, fut = inflight.popitem(last=False)
                    ready.append(fut.result())
                more = submit_more()
                for prep in ready:
                    if prep.error is not None:
                        done[prep.item.index] = self._failed(prep.item, prep.error)
                        continue
                    key = prep.chw.shape[1:]  # type: ignore[union-attr]
                    buckets.setdefault(key, []).append(prep)
                    pending += 1
                    if len(buckets[key]) >= self.batch:
                        pending -= self._flush(buckets.pop(key), done)
                # Flush when the input is exhausted, or when too many images wait in small buckets.
                while pending and (not more or pending > self.max_pending):  # type: ignore[operator]
                    key = max(buckets, key=lambda k: len(buckets[k]))
                    pending -= self._flush(buckets.pop(key), done)
                while next_index in done:
                    yield done.pop(next_index)
                    next_index += 1
        while next_index in done:  # pragma: no cover - everything is emitted in the loop
            yield done.pop(next_index)
            next_index += 1

    def _failed(self, item: Item, error: str) -> Detections:
        self.times.images += 1
        return Detections(item.source, index=item.index, frame=item.frame, timestamp=item.timestamp,
                          names=self.backend.names, error=error)

    def _flush(self, group: list[Prepared], done: dict[int, Detections]) -> int:
        for det in detect_prepared(self.backend, group, self.config, self.times):
            done[det.index] = det
        self.times.images += len(group)
        return len(group)


def detect_prepared(backend: Backend, group: list[Prepared], config: PredictConfig,
                    times: StageTimes | None = None) -> list[Detections]:
    """Run one batch of prepared images of the same input shape through the backend and NMS."""
    times = times or StageTimes()
    batch = np.stack([p.chw for p in group])  # type: ignore[misc]
    with times.track("inference"):
        raw = backend.infer(batch)
    out = []
    with times.track("postprocess"):
        dets = postprocess(torch.from_numpy(raw), config.conf, config.iou, config.max_det,
                           list(config.classes) if config.classes is not None else None)
        for p, (boxes, scores, cls) in zip(group, dets):
            info = p.info
            assert info is not None
            out.append(Detections(
                p.item.source,
                boxes=scale_boxes(boxes.numpy(), info.gain, info.pad, info.orig_shape),
                scores=scores.numpy(),
                class_ids=cls.numpy().astype(np.int64),
                names=backend.names,
                shape=info.orig_shape,
                index=p.item.index,
                frame=p.item.frame,
                timestamp=p.item.timestamp,
                image=p.image,
            ))
    return out
