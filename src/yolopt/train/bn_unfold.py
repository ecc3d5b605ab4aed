"""Undo folded BatchNorm before training: give each identity BN the statistics its inputs really have.

Checkpoints rebuilt from exported graphs (the shared ``yolov8n.pt``, the bundled model, ONNX/OpenVINO
round-trips) carry BatchNorm as an identity carrying the conv bias: running mean 0, variance 1 (or 1 - eps),
weight 1. Eval mode is exact, but training mode normalises by batch statistics, which here are far from
0 and 1, so the very first step changes the network. We measure each BN's input mean and variance on
training batches and re-parameterise the BN so its eval-mode function is unchanged while batch
statistics in training mode match, on average, the running ones it starts with (and settles back to).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

from ..model.hooks import run_with_input_hooks


def batchnorms(net: nn.Module) -> list[nn.BatchNorm2d]:
    """Every BatchNorm layer of ``net`` in module order."""
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def is_folded(net: nn.Module) -> bool:
    """True when every BN is an identity (mean 0, variance 1 or 1 - eps, weight 1) and some carry a bias.

    A freshly initialised network also has identity BNs but all-zero biases: that one is left alone.
    """
    bns = batchnorms(net)
    if not bns:
        return False
    carries_bias = False
    for bn in bns:
        if bn.running_mean is None or bn.running_var is None:
            return False
        var_ok = torch.all((bn.running_var - 1).abs() <= bn.eps + 1e-3)  # 1 or 1 - eps, maybe FP16-rounded
        if not (var_ok and torch.all(bn.running_mean == 0) and torch.all(bn.weight == 1)):
            return False
        carries_bias = carries_bias or bool(torch.any(bn.bias != 0))
    return carries_bias


@torch.no_grad()
def input_stats(net: nn.Module, batches: Iterable[torch.Tensor],
                reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
                per_batch: bool = True) -> dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel mean and variance of every BN's input over ``batches`` (float images in 0..1), eval mode.

    ``per_batch``: as training-mode BN accumulates them, the average over batches of each batch's mean and
    unbiased variance; that is where ``running_mean``/``running_var`` settle during training (a variance pooled
    over all images is larger by the spread of the batch means, so the eval network would drift once training
    replaced it). Otherwise pooled over every image: the network's own statistics, independent of batching, for
    BN that stays frozen. ``reduce`` (an all-reduce sum) pools every rank's batches, so all ranks agree.
    """
    sums: dict[nn.Module, list[torch.Tensor]] = {}

    def hook(mod: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        x = args[0].detach().double()
        if per_batch:
            var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=1)
            parts = [mean, var, torch.ones(1, dtype=x.dtype, device=x.device)]
        else:
            parts = [x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                     torch.full((1,), float(x.shape[0] * x.shape[2] * x.shape[3]), dtype=x.dtype, device=x.device)]
        s = sums.setdefault(mod, [torch.zeros_like(p) for p in parts])
        for acc, p in zip(s, parts):
            acc += p

    run_with_input_hooks(net, batchnorms(net), hook, batches)
    out = {}
    for mod in batchnorms(net):
        packed = torch.cat(sums[mod])
        if reduce is not None:
            packed = reduce(packed)
        c = len(sums[mod][0])
        s1, s2, n = packed[:c], packed[c: 2 * c], packed[-1]
        mean = s1 / n
        out[mod] = (mean, (s2 / n if per_batch else s2 / n - mean * mean).clamp(min=0))
    return out


@torch.no_grad()
def unfold(net: nn.Module, batches: Iterable[torch.Tensor],
           reduce: Callable[[torch.Tensor], torch.Tensor] | None = None, per_batch: bool = True) -> int:
    """Re-parameterise every BN to the measured input statistics, keeping its eval-mode function; returns how many.

    Eval BN is ``y = a * x + c`` with ``a = w / sqrt(var + eps)``, ``c = b - mean * a``. With the measured
    mean ``m`` and variance ``v``: ``var = v``, ``mean = m``, ``w = a * sqrt(v + eps)``, ``b = c + m * a``.
    """
    stats = input_stats(net, batches, reduce, per_batch)
    for bn, (m, v) in stats.items():
        assert isinstance(bn, nn.modules.batchnorm._BatchNorm)
        a = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        c = bn.bias.double() - bn.running_mean.double() * a
        bn.running_mean.copy_(m)
        bn.running_var.copy_(v)
        bn.weight.copy_(a * torch.sqrt(v + bn.eps))
        bn.bias.copy_(c + m * a)
    return len(stats)
