"""Dynamic batcher: groups concurrent requests of the same letterboxed shape into one backend call.

Exactness: a batch only holds images of one input shape, the backend gives each image the output it would
get alone, and NMS runs per image with that request's own thresholds, so a request's answer never depends
on its batch mates. Admission is decided up front: a request whose predicted wait (recent batch times, see
:class:`~yolopt.serve.admission.WaitEstimate`) exceeds its deadline is refused at once with 503 + Retry-After,
and a request whose deadline passes while it waits is dropped before decoding or inference. The event loop only moves references: decode + letterbox and NMS run in a worker pool,
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
from ..data.decode import MAX_PIXELS
from ..results import Detections
from .admission import WaitEstimate
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
    deadline: float
    timing: Timing = field(default_factory=Timing)
    abandoned: bool = False  # its client timed out or left: skip it when forming a batch

    def dead(self, now: float) -> bool:
        return self.abandoned or now >= self.deadline


#: Admit a request only while its predicted wait is at most this share of its deadline (the rest is margin).
ADMIT_SHARE = 0.8


class DynamicBatcher:
    """Admits up to ``max_queue`` requests; batches up to ``max_batch`` same-shape images, waiting at most
    ``max_delay_s`` after the oldest arrived while the backend is idle; answers each with its own NMS."""

    def __init__(self, backend: Backend, imgsz: int, max_batch: int = 16, max_delay_s: float = 0.005,
                 max_queue: int = 256, workers: int = 2, metrics: ServeMetrics | None = None,
                 max_pixels: int | None = MAX_PIXELS, seed_image_s: float = 0.0):
        if max_batch < 1 or max_queue < 1 or workers < 1 or max_delay_s < 0:
            raise ValueError("max_batch, max_queue and workers must be >= 1 and max_delay_s >= 0")
        self.backend = backend
        self.imgsz = imgsz
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.metrics = metrics
        self.max_pixels = max_pixels
        self.depth = 0  # admitted, not yet answered
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="yolopt-prep")
        self._batches = 0
        self._concurrency = concurrency(backend)  # batches in flight at once
        self._infer_pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="yolopt-infer")
        self.estimate = WaitEstimate(self._concurrency, workers, seed_image_s)
        self._buckets: dict[Hashable, deque[_Job]] = {}
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the dispatch loop on the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self._dispatch_loop(), name="yolopt-batcher")

    def admit(self, timeout_s: float) -> float:
        """Refuse now (503 + Retry-After) when shutting down, full, or too far behind to meet ``timeout_s``."""
        if self._closing:
            raise ServeError(503, "server is shutting down", {"Retry-After": "1", "Connection": "close"})
        wait = self.estimate.wait_s(self.depth)
        retry = {"Retry-After": str(self.estimate.retry_after(self.depth, timeout_s))}
        if self.depth >= self.max_queue:
            raise ServeError(503, f"queue full ({self.max_queue} requests waiting): retry later", retry)
        if not self.depth:  # idle: refuse only a deadline shorter than one image's own time (no correction,
            wait = self.estimate.raw_wait_s(0)  # so a server that was once slow still tries, and learns from it)
        if wait > ADMIT_SHARE * timeout_s:
            raise ServeError(503, f"overloaded: the {self.depth} requests ahead need about {wait * 1000:.0f} ms, more "
                                  f"than this request's {timeout_s * 1000:.0f} ms deadline: retry later", retry)
        return self.estimate.raw_wait_s(self.depth)

    def _prepare(self, data: bytes, name: str, deadline: float):  # type: ignore[no-untyped-def]
        """Decode + letterbox in a worker thread, timing it for the wait estimate."""
        t = time.perf_counter()
        prep = prepare_bytes(data, self.imgsz, name, self.max_pixels, deadline)
        self.estimate.observe_prep(time.perf_counter() - t)
        return prep

    async def detect(self, data: bytes, params: RequestParams, name: str = "<body>") -> tuple[Detections, Timing]:
        """Detections for one encoded image, or :class:`ServeError`: 503 (not admitted), 400 (bad image),
        413 (too many pixels), 504 (deadline passed). Cancelling it (the client left) drops its work."""
        predicted = self.admit(params.timeout_s)
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        deadline = t0 + params.timeout_s
        self._set_depth(+1)
        job: _Job | None = None
        try:
            try:
                prep = await asyncio.wait_for(loop.run_in_executor(self._pool, self._prepare, data, name, deadline),
                                              params.timeout_s)
            except asyncio.TimeoutError:
                raise ServeError(504, f"timed out after {params.timeout_s * 1000:.0f} ms while decoding") from None
            if prep.error is not None:
                raise ServeError(400, prep.error)
            job = _Job(prep, params, loop.create_future(), time.perf_counter(), deadline)
            job.timing.preprocess = job.enqueued - t0
            if self.metrics:
                self.metrics.preprocess.observe(job.timing.preprocess)
            self._buckets.setdefault(prep.chw.shape, deque()).append(job)  # type: ignore[union-attr]
            self._wake.set()
            try:
                raw = await asyncio.wait_for(asyncio.shield(job.future), max(deadline - time.perf_counter(), 0))
            except asyncio.TimeoutError:
                job.abandoned = True
                self.estimate.observe_outcome(predicted, params.timeout_s)  # at least this long
                where = "in the queue" if job.timing.batch_size == 0 else "during inference"
                raise ServeError(504, f"timed out after {params.timeout_s * 1000:.0f} ms {where}") from None
            t1 = time.perf_counter()
            self.estimate.observe_outcome(predicted, t1 - t0)
            det = await loop.run_in_executor(self._pool, detections_from_raw, raw, prep, params.config,
                                             self.backend.names)
            job.timing.postprocess = time.perf_counter() - t1
            det.source = name
            return det, job.timing
        except asyncio.CancelledError:
            if job is not None:
                job.abandoned = True
            raise
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
            now = time.perf_counter()
            for key in [k for k, b in self._buckets.items() if all(j.dead(now) for j in b)]:
                del self._buckets[key]
            if not self._buckets:
                if self._closing and self.depth == 0:
                    return None
                self._wake.clear()
                await self._wake.wait()
                continue
            key = min(self._buckets, key=lambda k: next(j.enqueued for j in self._buckets[k] if not j.dead(now)))
            bucket = self._buckets[key]
            while bucket[0].dead(now):  # expired or abandoned: never inferred
                bucket.popleft()
            live = sum(not j.dead(now) for j in bucket)
            wait = bucket[0].enqueued + self.max_delay_s - time.perf_counter()
            if live >= self.max_batch or wait <= 0 or self._closing:
                batch: list[_Job] = []
                while bucket and len(batch) < self.max_batch:
                    job = bucket.popleft()
                    if not job.dead(now):
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
            self.estimate.observe_batch(dt, len(batch))
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
