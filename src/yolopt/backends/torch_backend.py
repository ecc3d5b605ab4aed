"""PyTorch backend: fused conv+BN, inference mode, channels-last, optional BF16/FP16 and torch.compile."""

from __future__ import annotations

import numpy as np
import torch

from ..model import YoloModel
from ..model.head import Detect
from .base import resolve_streams

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class TorchBackend:
    """Runs a :class:`YoloModel` with PyTorch.

    Each image goes through the network as its own batch of one. oneDNN picks different convolution
    kernels for a batch of one than for larger batches (their boxes differ in the last bits), so
    a true batched call would make an image's scores depend on its batch size; per-image calls keep
    results identical at every ``--batch`` for a few percent of throughput on CPU.
    """

    name = "torch"

    def __init__(self, model: YoloModel, device: str = "cpu", precision: str = "fp32", threads: int | None = None,
                 compile: bool = False, streams: int | None = None):
        if precision not in _DTYPES:
            raise ValueError(f"precision {precision!r}: expected one of {sorted(_DTYPES)}")
        self.device = torch.device(device)
        self.concurrency = 1
        if self.device.type == "cpu":
            # ``streams`` concurrent calls of ``threads`` threads each; torch's thread count is per process,
            # so building a CPU backend sets it
            self.concurrency, per_call = resolve_streams(streams, threads)
            torch.set_num_threads(per_call)
        elif threads:
            torch.set_num_threads(threads)
        self.dtype = _DTYPES[precision]
        self.names = model.names
        net = model.net
        if any(hasattr(m, "bn") for m in net.modules()):
            import copy

            net = copy.deepcopy(net).fuse()
        self.net = net.to(self.device, self.dtype).to(memory_format=torch.channels_last).eval()
        if self.dtype != torch.float32:  # box decoding (DFL, anchor arithmetic) in FP32: bf16 moves boxes by pixels
            for head in (m for m in self.net.modules() if isinstance(m, Detect)):
                head.decode_dtype = torch.float32
                head.dfl.float()
        self._forward = torch.compile(self.net, dynamic=True) if compile else self.net

    @torch.inference_mode()
    def infer(self, images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(images).to(self.device)
        out: np.ndarray | None = None
        for i in range(x.shape[0]):
            xi = (x[i : i + 1].to(self.dtype) / 255).contiguous(memory_format=torch.channels_last)
            yi = self._forward(xi).float().cpu().numpy()
            if out is None:  # written in place: no list of per-image outputs and no concatenated copy
                out = np.empty((x.shape[0], *yi.shape[1:]), np.float32)
            out[i] = yi[0]
        assert out is not None
        return out
