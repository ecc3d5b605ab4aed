"""The batch engine: decode in a worker pool, bucket by letterboxed shape, infer, postprocess, emit in order."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..backends.base import Backend, concurrency
from ..data.decode import DecodeError
from ..data.decode import MAX_PIXELS
from ..data.inputs import load_input
from ..data.letterbox import LetterboxInfo
from ..data.sources import Item, iter_items
from ..ops import postprocess, scale_boxes
from ..results import Detections
from .bucketing import ShapeBucketer
from .memory import trim
from .queues import QueueStats, Stopped, TimedQueue
from .timing import StageTimes


TRIM_EVERY = 256  # images between returning freed heap memory to the OS (engine.memory.trim)


@dataclass(frozen=True)
class PredictConfig:
    """Everything that determines an image's result (besides the image and the model)."""

    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    max_pixels: int | None = MAX_PIXELS  # larger images (by their header) are refused undecoded

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


def prepare(item: Item, imgsz: int, times: StageTimes | None = None, keep_image: bool = False,
            max_pixels: int | None = MAX_PIXELS) -> Prepared:
    """Read, decode and letterbox one item (runs in a worker thread; OpenCV releases the GIL)."""
    if item.error is not None:
        return Prepared(item, error=item.error)
    try:
        source = item.image if item.image is not None else item.path
        inp = load_input(source, imgsz, times=times, max_pixels=max_pixels)  # type: ignore[arg-type]
    except DecodeError as e:
        return Prepared(item, error=str(e))
    except Exception as e:  # anything else about this one input must not end the job
        return Prepared(item, error=f"{item.source}: {type(e).__name__}: {e}")
    if times is not None and item.decode_s:
        times.add("decode", item.decode_s)  # a video frame was decoded while the source was read
    return Prepared(item, inp.chw, inp.info, image=inp.image if keep_image else None)


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
        self.queue_stats: list[QueueStats] = []

    def run(self, sources: Iterable) -> Iterator[Detections]:
        """Overlapping stages joined by bounded queues: a feeder thread (decode pool + shape buckets),
        ``backend.concurrency`` inference threads (network, then NMS on the same thread), and this
        generator, which only puts results back in input order."""
        stop = threading.Event()
        n_infer = concurrency(self.backend)
        q_batches = TimedQueue("batches", 1 + n_infer, stop)  # feeder → inference
        q_outputs = TimedQueue("outputs", 1 + n_infer, stop)  # inference + NMS → reorder
        decoded = QueueStats("decoded")  # the feeder waiting on the decode pool (empty = decode-bound)
        self.queue_stats[:] = [decoded, q_batches.stats, q_outputs.stats]
        submitted: dict[int, float] = {}
        failures: list[BaseException] = []
        feeder = threading.Thread(target=self._feed, args=(sources, q_batches, decoded, submitted, failures, n_infer),
                                  name="yolopt-feed", daemon=True)
        workers = [threading.Thread(target=self._infer, args=(q_batches, q_outputs, failures),
                                    name=f"yolopt-infer-{i}", daemon=True) for i in range(n_infer)]
        threads = [feeder, *workers]
        for t in threads:
            t.start()
        done: dict[int, Detections] = {}
        next_index = 0
        finished = 0
        try:
            while finished < n_infer:
                dets = q_outputs.get()
                if dets is None:  # one inference thread has ended
                    if failures:
                        raise failures[0]
                    finished += 1
                    continue
                for d in dets:
                    done[d.index] = d
                while next_index in done:
                    if self.times.record and next_index in submitted:
                        self.times.latencies.append(time.perf_counter() - submitted.pop(next_index))
                    yield done.pop(next_index)
                    next_index += 1
                    if next_index % TRIM_EVERY == 0:
                        trim()
            if failures:
                raise failures[0]
        finally:
            stop.set()
            for t in threads:
                t.join()

    def run_serial(self, sources: Iterable) -> Iterator[Detections]:
        """The same stages one after another in this thread: slower, but each stage's time is its own
        (nothing overlaps), which is what a per-stage cost breakdown needs."""
        bucketer: ShapeBucketer[Prepared] = ShapeBucketer(self.batch, self.max_pending or 4 * self.batch)
        done: dict[int, Detections] = {}
        next_index = 0

        def run_group(group: list[Prepared]) -> None:
            raw = infer_batch(self.backend, group, self.times)
            with self.times.track("postprocess"):
                for d in postprocess_batch(raw, group, self.config, self.backend.names):
                    done[d.index] = d
            self.times.count(len(group))

        items = iter_items(sources)
        while True:
            item = next(items, None)
            groups = bucketer.drain() if item is None else []
            if item is not None:
                prep = prepare(item, self.config.imgsz, self.times, self.keep_images, self.config.max_pixels)
                if prep.error is not None:
                    done[item.index] = self._failed(item, prep.error)
                else:
                    groups = bucketer.add(prep.chw.shape[1:], prep)  # type: ignore[union-attr]
            for group in groups:
                run_group(group)
            while next_index in done:
                yield done.pop(next_index)
                next_index += 1
            if item is None:
                return

    def _feed(self, sources: Iterable, out: TimedQueue, decoded: QueueStats, submitted: dict[int, float],
              failures: list[BaseException], n_infer: int) -> None:
        window = max(2 * self.batch, 2 * self.workers)
        bucketer: ShapeBucketer[Prepared] = ShapeBucketer(self.batch, self.max_pending or 4 * self.batch)
        try:
            items = iter_items(sources)
            with ThreadPoolExecutor(self.workers, thread_name_prefix="yolopt-decode") as pool:
                inflight: deque[Future[Prepared]] = deque()

                def fill() -> None:
                    while len(inflight) < window and (item := next(items, None)) is not None:
                        if self.times.record:
                            submitted[item.index] = time.perf_counter()
                        inflight.append(pool.submit(prepare, item, self.config.imgsz, self.times, self.keep_images,
                                                   self.config.max_pixels))

                fill()
                while inflight:
                    fut = inflight.popleft()
                    if not fut.done():
                        t = time.perf_counter()
                        prep = fut.result()
                        decoded.empty_s += time.perf_counter() - t
                    else:
                        prep = fut.result()
                    decoded.items += 1
                    fill()
                    if prep.error is not None:
                        out.put(([prep], False))
                        continue
                    for group in bucketer.add(prep.chw.shape[1:], prep):  # type: ignore[union-attr]
                        out.put((group, True))
            for group in bucketer.drain():
                out.put((group, True))
        except Stopped:
            return
        except BaseException as e:  # surfaced by run() in the caller's thread
            failures.append(e)
        for _ in range(n_infer):  # one end marker per inference thread
            _close(out)

    def _infer(self, inp: TimedQueue, out: TimedQueue, failures: list[BaseException]) -> None:
        try:
            while (msg := inp.get()) is not None:
                group, ok = msg
                if not ok:
                    dets = [self._failed(p.item, p.error or "unknown error") for p in group]
                else:
                    raw = infer_batch(self.backend, group, self.times)
                    with self.times.track("postprocess"):
                        dets = postprocess_batch(raw, group, self.config, self.backend.names)
                    self.times.count(len(group))
                out.put(dets)
        except Stopped:
            return
        except BaseException as e:
            failures.append(e)
        _close(out)

    def _failed(self, item: Item, error: str) -> Detections:
        self.times.count(1)
        return Detections(item.source, index=item.index, frame=item.frame, timestamp=item.timestamp,
                          names=self.backend.names, error=error)


def _close(q: TimedQueue) -> None:
    """Tell the next stage no more work is coming (unless the whole pipeline is stopping)."""
    try:
        q.put(None)
    except Stopped:
        pass


def infer_batch(backend: Backend, group: list[Prepared], times: StageTimes | None = None) -> np.ndarray:
    """Stack a same-shape group and run the backend on it; the raw (B, 4 + nc, A) output."""
    batch = np.stack([p.chw for p in group])  # type: ignore[misc]
    t0 = time.perf_counter()
    raw = backend.infer(batch)
    if times is not None:
        dt = time.perf_counter() - t0
        times.add("inference", dt)
        if times.record:
            times.batch_seconds.append((len(group), dt))
    return raw


def postprocess_batch(raw: np.ndarray, group: list[Prepared], config: PredictConfig,
                      names: dict[int, str]) -> list[Detections]:
    """NMS each image of a batch and map its boxes back to original-image pixels."""
    out = []
    dets = postprocess(raw, config.conf, config.iou, config.max_det,
                       list(config.classes) if config.classes is not None else None)
    for p, (boxes, scores, cls) in zip(group, dets):
        info = p.info
        assert info is not None
        out.append(Detections(
            p.item.source,
            boxes=scale_boxes(boxes, info.gain, info.pad, info.orig_shape),
            scores=scores,
            class_ids=cls.astype(np.int64),
            names=names,
            shape=info.orig_shape,
            index=p.item.index,
            frame=p.item.frame,
            timestamp=p.item.timestamp,
            image=p.image,
        ))
    return out


def detect_prepared(backend: Backend, group: list[Prepared], config: PredictConfig,
                    times: StageTimes | None = None) -> list[Detections]:
    """Run one batch of prepared images of the same input shape through the backend and NMS."""
    raw = infer_batch(backend, group, times)
    if times is None:
        return postprocess_batch(raw, group, config, backend.names)
    with times.track("postprocess"):
        return postprocess_batch(raw, group, config, backend.names)
