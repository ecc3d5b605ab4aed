"""System view while a job runs: per-core CPU utilisation, RSS, and NVIDIA GPU use via NVML when present."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..bench.monitor import rss_bytes


def _cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per core from /proc/stat."""
    out = []
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                v = [int(x) for x in line.split()[1:]]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out.append((sum(v) - idle, sum(v)))
    return out


@dataclass
class SystemSample:
    t: float
    cpu_percent: list[float]
    rss_mb: float
    gpu_util: float | None = None
    gpu_mem_mb: float | None = None


@dataclass
class SystemMonitor:
    """Samples every ``interval`` seconds in a thread between ``start()`` and ``stop()``."""

    interval: float = 0.2
    samples: list[SystemSample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml = None
        try:  # optional: only where an NVIDIA driver and pynvml exist
            import pynvml

            pynvml.nvmlInit()
            self._nvml = (pynvml, pynvml.nvmlDeviceGetHandleByIndex(0))
        except Exception:
            self._nvml = None

    def start(self) -> "SystemMonitor":
        self._t0 = time.perf_counter()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True, name="yolopt-sysmon")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        try:
            prev = _cpu_times()
        except OSError:
            return
        while not self._stop.wait(self.interval):
            cur = _cpu_times()
            cpu = [100.0 * (b1 - b0) / max(t1 - t0, 1) for (b0, t0), (b1, t1) in zip(prev, cur)]
            prev = cur
            s = SystemSample(time.perf_counter() - self._t0, cpu, rss_bytes() / 2**20)
            if self._nvml:
                nv, h = self._nvml
                s.gpu_util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
                s.gpu_mem_mb = nv.nvmlDeviceGetMemoryInfo(h).used / 2**20
            self.samples.append(s)

    def summary(self) -> dict:
        """Mean utilisation per core, overall mean, peak RSS, and GPU figures when sampled."""
        if not self.samples:
            return {"cores": 0, "cpu_mean_percent": None, "per_core_percent": [], "peak_rss_mb": rss_bytes() / 2**20}
        n = len(self.samples[0].cpu_percent)
        per_core = [sum(s.cpu_percent[i] for s in self.samples) / len(self.samples) for i in range(n)]
        out = {
            "cores": n,
            "per_core_percent": [round(v, 1) for v in per_core],
            "cpu_mean_percent": round(sum(per_core) / n, 1),
            "peak_rss_mb": round(max(s.rss_mb for s in self.samples), 1),
        }
        if self.samples[0].gpu_util is not None:
            out["gpu_util_percent"] = round(sum(s.gpu_util or 0 for s in self.samples) / len(self.samples), 1)
            out["gpu_peak_mem_mb"] = round(max(s.gpu_mem_mb or 0 for s in self.samples), 1)
        return out
