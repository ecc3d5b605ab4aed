"""Running fixed-shape mobile models (TFLite, NCNN) behind the any-shape backend interface."""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

import numpy as np

from ..data.letterbox import PAD_VALUE

T = TypeVar("T")


def pad_to(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """(B, 3, h, w) letterboxed inputs padded bottom-right with letterbox gray to (B, 3, height, width).

    Padding after the image leaves its pixel coordinates unchanged, so boxes from the padded canvas map back
    to the original image exactly as boxes from the letterboxed input would.
    """
    b, c, h, w = images.shape
    if h > height or w > width:
        raise ValueError(f"input {h}x{w} is larger than the model's fixed {height}x{width} input: exported models "
                         f"for mobile runtimes have a static shape; run with imgsz <= {max(height, width)} or "
                         "export again with a larger --imgsz")
    if (h, w) == (height, width):
        return images
    out = np.full((b, c, height, width), PAD_VALUE, np.uint8)
    out[:, :, :h, :w] = images
    return out


class Pool(Generic[T]):
    """``n`` runtime instances (interpreters, nets) lent out one per concurrent ``infer`` call.

    LiteRT interpreters and NCNN extractors are not safe to share between threads; one per stream is.
    """

    def __init__(self, make: Callable[[], T], n: int):
        self._free: queue.SimpleQueue[T] = queue.SimpleQueue()
        for _ in range(n):
            self._free.put(make())

    @contextmanager
    def lend(self) -> Iterator[T]:
        item = self._free.get()
        try:
            yield item
        finally:
            self._free.put(item)
