"""What machine this is, in words: for benchmark tables and for keying per-machine measurements."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        return cpu


def memory_gib() -> float | None:
    """Total RAM in GiB (None where ``/proc/meminfo`` is not available)."""
    try:
        with open("/proc/meminfo") as f:
            return int(f.readline().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        return None


def machine() -> str:
    """One line naming the CPU, its core count and memory (for benchmark tables)."""
    mem = memory_gib()
    return f"{cpu_name()}, {os.cpu_count()} cores, {'?' if mem is None else f'{mem:.0f}'} GiB"
