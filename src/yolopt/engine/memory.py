"""Keep the process's memory bounded on endless inputs: give freed heap memory back to the OS now and then."""

from __future__ import annotations

import ctypes
import sys

_libc: ctypes.CDLL | None | bool = None


def trim() -> bool:
    """Return the free memory of every glibc heap to the OS (``malloc_trim(0)``); a no-op off glibc.

    Decoded images and raw outputs (megabytes each) are allocated and freed by several threads; glibc keeps
    what they free in per-thread heaps that fragment and rarely shrink on their own, so RSS creeps up over a
    long run without trimming. Pinning glibc's mmap threshold instead bounded it too, but made every large torch
    activation a fresh mapping and more than halved throughput. A trim every few dozen images costs well under
    a millisecond (figures in BENCHMARKS.md, "Why the code is the way it is").
    """
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else False
            _libc.malloc_trim  # type: ignore[union-attr]  # musl and others: no malloc_trim
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    return bool(_libc.malloc_trim(0))  # type: ignore[union-attr]
