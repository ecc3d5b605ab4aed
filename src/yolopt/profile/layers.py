"""Per-layer cost of the network, one table format for PyTorch (module hooks + torch.profiler) and OpenVINO."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..model.blocks import Concat, Conv, Upsample
from ..model.head import DFL


@dataclass
class LayerCost:
    """One layer's mean time per image, its share of the network, and its multiply-add FLOPs (when known)."""

    name: str
    type: str
    ms: float
    share: float
    gflops: float | None = None
    output_shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Drop what native code writes to fd 2 meanwhile (the profiler's own start/stop lines), keep Python's."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _timed_modules(net: nn.Module) -> dict[str, nn.Module]:
    """Leaf-level units worth timing: Conv blocks (conv+act), bare Conv2d (head outputs), pools, upsample, concat, DFL."""
    out: dict[str, nn.Module] = {}
    for name, m in net.named_modules():
        if isinstance(m, (Conv, DFL, nn.MaxPool2d, Upsample, Concat)):
            out[name] = m
        elif isinstance(m, nn.Conv2d) and not any(name.startswith(p + ".") for p in out):
            out[name] = m
    return out


def _conv_flops(conv: nn.Conv2d, out: torch.Tensor) -> float:
    k = conv.kernel_size[0] * conv.kernel_size[1]
    return 2.0 * out.shape[0] * out.shape[1] * out.shape[2] * out.shape[3] * (conv.in_channels // conv.groups) * k


def torch_layers(net: nn.Module, x: torch.Tensor, repeats: int = 5, trace: str | Path | None = None
                 ) -> tuple[list[LayerCost], list[dict]]:
    """Time every layer with forward hooks (mean of ``repeats`` runs after a warm-up); optionally write a
    Chrome trace and return torch.profiler's top operators."""
    mods = _timed_modules(net)
    times: dict[str, float] = defaultdict(float)
    flops: dict[str, float] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    starts: dict[str, float] = {}
    handles = []
    for name, m in mods.items():
        handles.append(m.register_forward_pre_hook(lambda mod, inp, n=name: starts.__setitem__(n, time.perf_counter())))

        def post(mod, inp, out, n=name):
            times[n] += time.perf_counter() - starts[n]
            shapes[n] = tuple(out.shape)
            conv = mod.conv if isinstance(mod, Conv) else mod if isinstance(mod, nn.Conv2d) else None
            if conv is not None:
                flops[n] = _conv_flops(conv, out)

        handles.append(m.register_forward_hook(post))
    try:
        with torch.inference_mode():
            net(x)  # warm-up
            times.clear()
            for _ in range(repeats):
                net(x)
    finally:
        for h in handles:
            h.remove()
    ops: list[dict] = []
    with _native_stderr_silenced(), torch.inference_mode(), torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True, with_flops=True) as prof:
        net(x)
    for ev in sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:15]:
        ops.append({"op": ev.key, "calls": ev.count, "self_ms": round(ev.self_cpu_time_total / 1000, 3),
                    "gflops": round((ev.flops or 0) / 1e9, 3)})
    if trace:
        prof.export_chrome_trace(str(trace))
    n = x.shape[0] * repeats
    total = sum(times.values()) or 1.0
    rows = [LayerCost(name, type(mods[name]).__name__, 1000 * t / n, t / total,
                      flops[name] / x.shape[0] / 1e9 if name in flops else None, shapes.get(name))
            for name, t in times.items()]
    return rows, ops


def openvino_layers(compiled_model, x: np.ndarray, repeats: int = 5) -> list[LayerCost]:
    """Per-layer times from OpenVINO's performance counters (the model must be compiled with PERF_COUNT)."""
    req = compiled_model.create_infer_request()
    req.infer({0: x})
    acc: dict[str, list] = {}
    for _ in range(repeats):
        req.infer({0: x})
        for info in req.get_profiling_info():
            if info.status.name != "EXECUTED":
                continue
            ms = info.real_time.total_seconds() * 1000
            row = acc.setdefault(info.node_name, [info.node_type, 0.0])
            row[1] += ms
    n = x.shape[0] * repeats
    total = sum(v[1] for v in acc.values()) or 1.0
    return [LayerCost(name, typ, ms / n, ms / total) for name, (typ, ms) in acc.items()]
