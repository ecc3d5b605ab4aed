"""A bounded queue that records how long producers waited on it full and consumers waited on it empty."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any


class Stopped(Exception):
    """The pipeline was asked to stop while a stage waited on a queue."""


@dataclass
class QueueStats:
    """Seconds the queue held up its producer (full) and its consumer (empty), and items passed."""

    name: str
    full_s: float = 0.0
    empty_s: float = 0.0
    items: int = 0


class TimedQueue:
    """``queue.Queue`` with wait accounting and a shared stop event, so no stage can hang on shutdown."""

    def __init__(self, name: str, maxsize: int, stop: threading.Event):
        self._q: queue.Queue = queue.Queue(maxsize)
        self._stop = stop
        self.stats = QueueStats(name)
        self._lock = threading.Lock()  # several producers or consumers may update the stats

    def put(self, item: Any) -> None:
        try:
            self._q.put_nowait(item)
        except queue.Full:
            t = time.perf_counter()
            while True:
                if self._stop.is_set():
                    raise Stopped
                try:
                    self._q.put(item, timeout=0.05)
                    break
                except queue.Full:
                    continue
            with self._lock:
                self.stats.full_s += time.perf_counter() - t
        with self._lock:
            self.stats.items += 1

    def get(self) -> Any:
        try:
            return self._q.get_nowait()
        except queue.Empty:
            t = time.perf_counter()
            while True:
                if self._stop.is_set():
                    raise Stopped
                try:
                    item = self._q.get(timeout=0.05)
                    break
                except queue.Empty:
                    continue
            with self._lock:
                self.stats.empty_s += time.perf_counter() - t
            return item
