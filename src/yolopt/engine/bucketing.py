"""Group prepared images into batches of one letterboxed shape, holding a bounded number back."""

from __future__ import annotations

from typing import Generic, Hashable, TypeVar

T = TypeVar("T")


class ShapeBucketer(Generic[T]):
    """Collects items per shape key; a bucket is released when full, or (largest first) when more than
    ``max_pending`` items wait in partial buckets, or at the end. Which items share a batch never changes
    an item's result, only how much work each backend call gets."""

    def __init__(self, batch: int, max_pending: int):
        self.batch = batch
        self.max_pending = max(max_pending, batch)
        self._buckets: dict[Hashable, list[T]] = {}
        self.pending = 0

    def add(self, key: Hashable, item: T) -> list[list[T]]:
        bucket = self._buckets.setdefault(key, [])
        bucket.append(item)
        self.pending += 1
        ready = []
        if len(bucket) >= self.batch:
            ready.append(self._pop(key))
        while self.pending > self.max_pending:
            ready.append(self._pop(max(self._buckets, key=lambda k: len(self._buckets[k]))))
        return ready

    def drain(self) -> list[list[T]]:
        return [self._pop(k) for k in list(self._buckets)]

    def _pop(self, key: Hashable) -> list[T]:
        group = self._buckets.pop(key)
        self.pending -= len(group)
        return group
