"""``--batch auto``: time the backend at growing batch sizes and keep the fastest that fits in memory."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Sequence

import numpy as np

from ..backends.base import Backend, concurrency

CANDIDATES = (1, 2, 4, 8, 16, 32)


def available_memory() -> int:
    """Bytes of memory the system can still give (MemAvailable), or 0 when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def auto_batch(backend: Backend, shape: tuple[int, int], candidates: Sequence[int] = CANDIDATES,
               seconds: float = 0.3, memory_fraction: float = 0.5,
               log: Callable[[str], None] = lambda s: None) -> int:
    """The batch size with the highest measured img/s on ``backend`` for (H, W) inputs.

    Each candidate runs for about ``seconds``, with ``backend.concurrency`` calls in flight as the engine
    makes; the search stops before a batch whose estimated memory (the peak RSS growth per image seen so
    far, times the batch) exceeds ``memory_fraction`` of the available memory, and once throughput falls
    twice in a row. Results never depend on the batch size, so this only trades memory for speed.
    """
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    n = concurrency(backend)
    best, best_rate, falls, per_image = 1, 0.0, 0, 0
    budget = available_memory() * memory_fraction
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with ThreadPoolExecutor(n) as pool:
        for b in candidates:
            if per_image and budget and b * per_image > budget:
                log(f"batch {b}: needs ~{b * per_image / 2**20:.0f} MiB, more than {budget / 2**20:.0f} MiB free")
                break
            x = rng.integers(0, 256, (b, 3, *shape), dtype=np.uint8)
            out = backend.infer(x)  # warm-up: compile / allocate for this shape
            calls, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds or calls < n:
                list(pool.map(backend.infer, [x] * n))
                calls += n
            rate = calls * b / (time.perf_counter() - t0)
            log(f"batch {b}: {rate:.1f} img/s")
            grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0) * 1024  # Linux: KiB
            per_image = max(per_image, grown / b, (x.nbytes + out.nbytes) * n)
            if rate > best_rate:
                best, best_rate, falls = b, rate, 0
            else:
                falls += 1
                if falls == 2:
                    break
    return best
