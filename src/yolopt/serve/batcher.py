"""Dynamic batcher: groups concurrent requests of the same letterboxed shape into one backend call.

Exactness: a batch only holds images of one input shape, the backend gives each image the output it would
get alone, and NMS runs per image with that request's own thresholds, so a request's answer never depends
on its batch mates. The event loop only moves references: decode + letterbox and NMS run in a worker pool,
the backend in ``backend.concurrency`` inference threads with at most that many batches in flight, so
requests that arrive while every thread is busy form the next batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..backends.base import Backend, concurrency
from ..engine import Prepared
from ..engine.memory import trim
from ..results import Detections
from .metrics import ServeMetrics
from .protocol import RequestParams, ServeError, detections_from_raw, prepare_bytes


@dataclass
class Timing:
    """Where one request's time went, in seconds."""

    preprocess: float = 0.0
    queue: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0
    batch_size: int = 0


@dataclass
class _Job:
    prep: Prepared
    params: RequestParams
    future: asyncio.Future
    enqueued: float
    timing: Timing = field(default_factory=Timing)
    abandoned: bool = False  # its client timed out: skip it when forming a batch


class DynamicBatcher:
    """Admits up to ``max_queue`` requests; batches up to ``max_batch`` same-shape images, waiting at most
    ``max_delay_s`` after the oldest arrived while the backend is idle; answers each with its own NMS."""

    def __init__(self, backend: Backend, imgsz: int, max_batch: int = 16, max_delay_s: float = 0.005,
                 max_queue: int = 256, workers: int = 2, metrics: ServeMetrics | None = None):
        if max_batch < 1 or max_queue < 1 or workers < 1 or max_delay_s < 0:
            raise ValueError("max_batch, max_queue and workers must be >= 1 and max_delay_s >= 0")
        self.backend = backend
        self.imgsz = imgsz
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.metrics = metrics
        self.depth = 0  # admitted, not yet answered
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="yolopt-prep")
        self._batches = 0
        self._concurrency = concurrency(backend)  # batches in flight at once
        self._infer_pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="yolopt-infer")
        self._buckets: dict[Hashable, deque[_Job]] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the dispatch loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._dispatch_loop(), name="yolopt-batcher")

    async def detect(self, data: bytes, params: RequestParams, name: str = "<body>") -> tuple[Detections, Timing]:
        """Detections for one encoded image, or :class:`ServeError` 503 (queue full), 400 (bad image), 504 (late)."""
        if self._closing:
            raise ServeError(503, "server is shutting down", {"Retry-After": "1", "Connection": "close"})
        if self.depth >= self.max_queue:
            raise ServeError(503, f"queue full ({self.max_queue} requests waiting): retry later", {"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        deadline = t0 + params.timeout_s
        self._set_depth(+1)
        try:
            try:
                prep = await asyncio.wait_for(loop.run_in_executor(self._pool, prepare_bytes, data, self.imgsz, name),
                                              params.timeout_s)
            except asyncio.TimeoutError:
                raise ServeError(504, f"timed out after {params.timeout_s * 1000:.0f} ms while decoding") from None
            if prep.error is not None:
                raise ServeError(400, prep.error)
            job = _Job(prep, params, loop.create_future(), time.perf_counter())
            job.timing.preprocess = job.enqueued - t0
            if self.metrics:
                self.metrics.preprocess.observe(job.timing.preprocess)
            self._buckets.setdefault(prep.chw.shape, deque()).append(job)  # type: ignore[union-attr]
            self._wake.set()
            try:
                raw = await asyncio.wait_for(asyncio.shield(job.future), max(deadline - time.perf_counter(), 0))
            except asyncio.TimeoutError:
                job.abandoned = True
                where = "in the queue" if job.timing.batch_size == 0 else "during inference"
                raise ServeError(504, f"timed out after {params.timeout_s * 1000:.0f} ms {where}") from None
            t1 = time.perf_counter()
            det = await loop.run_in_executor(self._pool, detections_from_raw, raw, prep, params.config,
                                             self.backend.names)
            job.timing.postprocess = time.perf_counter() - t1
            det.source = name
            return det, job.timing
        finally:
            self._set_depth(-1)

    async def close(self) -> None:
        """Refuse new requests, finish every admitted one, then stop the threads."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._pool.shutdown(wait=True)
        self._infer_pool.shutdown(wait=True)

    def _set_depth(self, delta: int) -> None:
        self.depth += delta
        if self._closing:
            self._wake.set()  # the dispatcher exits once the last admitted request is answered
        if self.metrics:
            self.metrics.queue_depth.set(self.depth)

    async def _next_batch(self) -> list[_Job] | None:
        """Wait for the next batch: the oldest waiting shape, once full or its head has waited ``max_delay_s``."""
        while True:
            for key in [k for k, b in self._buckets.items() if all(j.abandoned for j in b)]:
                del self._buckets[key]
            if not self._buckets:
                if self._closing and self.depth == 0:
                    return None
                self._wake.clear()
                await self._wake.wait()
                continue
            key = min(self._buckets, key=lambda k: next(j.enqueued for j in self._buckets[k] if not j.abandoned))
            bucket = self._buckets[key]
            while bucket[0].abandoned:
                bucket.popleft()
            live = sum(not j.abandoned for j in bucket)
            wait = bucket[0].enqueued + self.max_delay_s - time.perf_counter()
            if live >= self.max_batch or wait <= 0 or self._closing:
                batch: list[_Job] = []
                while bucket and len(batch) < self.max_batch:
                    job = bucket.popleft()
                    if not job.abandoned:
                        batch.append(job)
                if not bucket:
                    del self._buckets[key]
                return batch
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def _infer(self, images: list[np.ndarray]) -> np.ndarray:
        """Stack and run one batch (in the inference thread: the copy stays off the event loop too)."""
        return self.backend.infer(np.stack(images))

    async def _dispatch_loop(self) -> None:
        """Run up to ``backend.concurrency`` batches at once in the inference threads; a batch is formed only
        when a thread is free, so requests arriving while all are busy form the next one."""
        slots = asyncio.Semaphore(self._concurrency)
        running: set[asyncio.Task] = set()
        while True:
            await slots.acquire()
            batch = await self._next_batch()
            if batch is None:
                break
            task = asyncio.get_running_loop().create_task(self._run_batch(batch, slots))
            running.add(task)
            task.add_done_callback(running.discard)
        await asyncio.gather(*running)

    async def _run_batch(self, batch: list[_Job], slots: asyncio.Semaphore) -> None:
        """One batch through the backend in an inference thread; answers (or fails) each of its requests."""
        try:
            t0 = time.perf_counter()
            for job in batch:
                job.timing.queue = t0 - job.enqueued
                job.timing.batch_size = len(batch)
                if self.metrics:
                    self.metrics.queue_time.observe(job.timing.queue)
            try:
                raw = await asyncio.get_running_loop().run_in_executor(self._infer_pool, self._infer,
                                                                       [j.prep.chw for j in batch])
            except Exception as e:  # a backend failure answers this batch with 500, the server goes on
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(ServeError(500, f"inference failed: {type(e).__name__}: {e}"))
                return
            dt = time.perf_counter() - t0
            if self.metrics:
                self.metrics.batch_size.observe(len(batch))
                self.metrics.inference.observe(dt)
            for i, job in enumerate(batch):
                job.timing.inference = dt
                if not job.future.done():
                    job.future.set_result(raw[i : i + 1])
        finally:
            slots.release()
            self._batches += 1
            if self._batches % 64 == 0:  # bodies and images come and go as long as the server runs
                trim()
