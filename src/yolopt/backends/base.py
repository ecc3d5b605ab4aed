"""The backend interface every runtime implements."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Runs the network: (B, 3, H, W) uint8 RGB letterboxed images → (B, 4 + nc, A) float32 raw head output.

    H and W are multiples of 32 and every image of a batch has the same shape. A backend must give each
    image the same output whatever else shares its batch (see DESIGN.md, exactness rules).
    """

    name: str
    names: dict[int, str]
    concurrency: int  # how many infer() calls may run at once (the engine runs that many inference threads)

    def infer(self, images: np.ndarray) -> np.ndarray: ...


def cpu_streams(cores: int | None = None) -> tuple[int, int]:
    """(streams, threads per stream) a CPU backend uses by default: concurrent single-threaded calls.

    On 2 cores, two 1-thread calls side by side beat one 2-thread call (for torch FP32/BF16 and onnxruntime;
    BENCHMARKS.md, "Why the code is the way it is"), because a call's threads stop spinning at every layer's
    barrier and decode threads get the cores in between. Above 4 cores, streams of 4 threads.
    """
    cores = cores or os.cpu_count() or 1
    streams = cores if cores <= 4 else cores // 4
    return streams, max(1, cores // streams)


def resolve_streams(streams: int | None, threads: int | None) -> tuple[int, int]:
    """(concurrent calls, threads per call) from a CPU backend's ``streams`` / ``threads`` options.

    Unset, both come from :func:`cpu_streams`; an explicit thread count alone means one stream; explicit
    streams alone share the cores between them.
    """
    default_streams, default_threads = cpu_streams()
    n = streams or (1 if threads else default_streams)
    if n < 1:
        raise ValueError(f"streams must be >= 1, got {streams}")
    return n, threads or (default_threads if streams is None else max(1, (os.cpu_count() or 1) // n))


def concurrency(backend: Backend) -> int:
    """How many ``infer`` calls ``backend`` may run at once (1 for a backend that does not say)."""
    return max(1, int(getattr(backend, "concurrency", 1)))
