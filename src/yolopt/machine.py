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


def machine() -> str:
    """One line naming the CPU, its core count and memory (for benchmark tables)."""
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    except OSError:
        mem = "? GiB"
    return f"{cpu_name()}, {os.cpu_count()} cores, {mem}"
