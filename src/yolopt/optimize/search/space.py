"""The search space of ``yolopt optimize``: which model files (backend x precision) and run settings to try.

A :class:`Variant` is one model file as a backend runs it; a :class:`Config` is a variant at an input size with
its run settings (batch, streams, threads). Accuracy depends on the variant and the input size only (every
backend gives each image the same result whatever its batch or threads, DESIGN.md), speed on the whole config.
Pruning is one more axis of :class:`Variant` (``source``: a pruned model file); :func:`variants` takes them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable

from ...backends import registry
from ..quantize import BACKENDS as INT8_BACKENDS

#: Backends searched by default (TensorRT is added where a CUDA GPU is present).
CPU_BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16", "fp16", "int8")


class SearchError(ValueError):
    """The search cannot start on these inputs; the message names the input."""


@dataclass(frozen=True)
class Variant:
    """One model file as a backend runs it: ``source`` "" is the model given; a pruned model file is another."""

    backend: str
    precision: str
    source: str = ""

    @property
    def exact(self) -> bool:
        """Gives PyTorch FP32's results (the registry's ``auto`` backends at FP32, on the model given)."""
        return self.precision == "fp32" and registry.get(self.backend).auto and not self.source

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}" + (f" {self.source}" if self.source else "")


@dataclass(frozen=True)
class Config:
    """A variant at an input size with run settings; ``None`` streams/threads: the backend's default layout."""

    variant: Variant
    imgsz: int
    batch: int = 1
    streams: int | None = None
    threads: int | None = None

    @property
    def settings(self) -> str:
        return f"batch {self.batch}, streams {self.streams or 'default'}, threads {self.threads or 'default'}"

    @property
    def label(self) -> str:
        return f"{self.variant.label} @{self.imgsz} b{self.batch} s{self.streams or '-'} t{self.threads or '-'}"

    def with_settings(self, batch: int, streams: int | None, threads: int | None) -> "Config":
        return replace(self, batch=batch, streams=streams, threads=threads)


def gpu() -> bool:
    """Whether a CUDA GPU is usable (TensorRT and FP16 are searched only then)."""
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a core dependency
        return False


def has_bf16() -> bool:
    """Whether the CPU computes BF16 natively (AVX512-BF16 or AMX): BF16 is only worth trying where it does."""
    from ...report.facts import cpu_flags

    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_flags()))


def _int8_ready(backend: str) -> bool:
    import importlib.util

    needs = ("nncf",) if backend == "openvino" else ("onnxruntime", "onnx")
    return backend in INT8_BACKENDS and all(importlib.util.find_spec(m) is not None for m in needs)


def precisions_for(backend: str, bf16: bool, cuda: bool) -> list[str]:
    """The precisions worth trying on ``backend`` here: FP32; BF16 where the CPU has it; FP16 on a GPU; INT8."""
    spec = registry.get(backend)
    out = ["fp32"]
    if bf16 and "bf16" in spec.precisions and backend != "tensorrt":
        out.append("bf16")
    if cuda and "fp16" in spec.precisions and backend in ("tensorrt", "torch"):
        out.append("fp16")
    if _int8_ready(backend):
        out.append("int8")
    return out


def variants(backends: Iterable[str] | None = None, precisions: Iterable[str] | None = None,
             sources: Iterable[str] = ("",)) -> list[Variant]:
    """Every (backend, precision, source) to try; explicit ``backends`` must be installed (else SearchError)."""
    cuda = gpu()
    if backends is None:
        names = [b for b in CPU_BACKENDS if registry.get(b).installed()]
        if cuda and registry.get("tensorrt").installed():
            names.append("tensorrt")
    else:
        names = list(backends)
        for b in names:
            try:
                spec = registry.get(b)
            except ValueError as e:
                raise SearchError(f"--backends: {e}") from None
            if not spec.installed():
                raise SearchError(f"--backends: {b} is not installed here (needs {', '.join(spec.requires)})")
    wanted = set(precisions) if precisions is not None else set(PRECISIONS)
    if wanted - set(PRECISIONS):
        raise SearchError(f"--precisions: unknown {', '.join(sorted(wanted - set(PRECISIONS)))}; "
                          f"expected some of {', '.join(PRECISIONS)}")
    bf16 = has_bf16()
    out = [Variant(b, p, s) for s in sources for b in names for p in precisions_for(b, bf16, cuda) if p in wanted]
    if not out:
        raise SearchError(f"nothing to search: no installed backend runs {', '.join(sorted(wanted))} here")
    return out


def sizes(largest: int = 640, smallest: int = 320, step: int = 32) -> list[int]:
    """Input sizes (long side, rect letterbox) from ``largest`` down to ``smallest``, multiples of 32."""
    if step <= 0 or step % 32 or largest % 32 or smallest % 32 or not 32 <= smallest <= largest:
        raise SearchError(f"input sizes {largest}..{smallest} step {step}: expected multiples of 32, "
                          "largest >= smallest >= 32")
    return list(range(largest, smallest - 1, -step))


def layouts(cores: int | None = None) -> list[tuple[int, int]]:
    """(streams, threads) layouts for the final round: the backends' default, one stream on every core, and one
    single-thread stream per core."""
    import os

    from ...backends.base import cpu_streams

    n = cores or os.cpu_count() or 1
    return list(dict.fromkeys([cpu_streams(n), (1, n), (n, 1)]))
