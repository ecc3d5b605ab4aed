"""Facts about the machine a report was made on: CPU, its flags that matter for speed, memory, library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata

from ..machine import cpu_name, memory_gib
from .blocks import KeyValues

# CPU features that decide which precisions run fast (VNNI/AMX for INT8, AVX512-BF16/AMX for BF16, F16C for FP16).
FLAGS_OF_INTEREST = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
                     "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimdhp", "sve")
PACKAGES = ("yolopt", "torch", "numpy", "onnxruntime", "openvino", "nncf", "opencv-python-headless", "pycocotools")


def cpu_flags(path: str = "/proc/cpuinfo") -> list[str]:
    """The flags of interest this CPU reports (empty where /proc/cpuinfo is not available)."""
    try:
        with open(path) as f:
            line = next((ln for ln in f if ln.startswith(("flags", "Features"))), "")
    except OSError:
        return []
    have = set(line.split(":", 1)[-1].split())
    return [flag for flag in FLAGS_OF_INTEREST if flag in have]


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` (read from package metadata, nothing imported); missing ones left out."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def machine_facts() -> KeyValues:
    """A block naming the CPU, its cores and flags of interest, RAM, OS and library versions."""
    facts: dict[str, object] = {
        "CPU": cpu_name(),
        "Logical cores": os.cpu_count(),
        "CPU flags of interest": " ".join(cpu_flags()) or "none found",
        "RAM (GiB)": None if (mem := memory_gib()) is None else round(mem, 1),
        "OS": platform.platform(),
        "Python": platform.python_version(),
    }
    facts.update(versions())
    return KeyValues(facts)
