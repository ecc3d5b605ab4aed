"""Bias compensation: fold the mean contribution of every removed channel into the layer that consumed it.

A removed channel does not output zero: SiLU(BN(.)) has a mean, often far from 0 (a BN bias can keep a channel
"on" whatever its weights), and every conv reading it loses ``sum(W[:, j]) * mean_j`` at each position. Adding
that back to the consumer (its BN's running mean, or its own bias) keeps the pruned network's function close to
the original before any fine-tuning; without it, yolov8n pruned to 0.7 of its MACs detects almost nothing.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from ...model.hooks import run_with_input_hooks


@torch.no_grad()
def input_means(net: nn.Module, batches: Iterable[torch.Tensor]) -> dict[nn.Conv2d, torch.Tensor]:
    """Per-channel mean of every Conv2d's input over ``batches`` (float images in 0..1), in eval mode."""
    return channel_means(net, [m for m in net.modules() if isinstance(m, nn.Conv2d)], batches)


def channel_means(net: nn.Module, modules: Iterable[nn.Module], batches: Iterable[torch.Tensor],
                  outputs: bool = False) -> dict[nn.Module, torch.Tensor]:
    """Per-channel mean of each of ``modules``' input (with ``outputs``: its output) over ``batches``, in eval
    mode, accumulated in float64."""
    sums: dict[nn.Module, list[Any]] = {}

    def add(mod: nn.Module, x: torch.Tensor) -> None:
        x = x.detach().double()
        s = sums.setdefault(mod, [torch.zeros(x.shape[1], dtype=torch.float64, device=x.device), 0])
        s[0] += x.sum((0, 2, 3))
        s[1] += x.shape[0] * x.shape[2] * x.shape[3]

    if outputs:
        run_with_input_hooks(net, modules, lambda mod, args, out: add(mod, out), batches, pre=False)
    else:
        run_with_input_hooks(net, modules, lambda mod, args: add(mod, args[0]), batches)
    return {m: (s / n).float() for m, (s, n) in sums.items()}


def following_bn(net: nn.Module) -> dict[nn.Conv2d, nn.BatchNorm2d]:
    """The BatchNorm right after each Conv2d of yolopt's ``Conv`` blocks (conv -> bn -> act)."""
    return {m.conv: m.bn for m in net.modules()
            if isinstance(getattr(m, "conv", None), nn.Conv2d) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d)}


@torch.no_grad()
def compensate(group: Any, means: dict[nn.Conv2d, torch.Tensor], bns: dict[nn.Conv2d, nn.BatchNorm2d]) -> int:
    """Before ``group.prune()``: shift each consumer conv's output by its removed inputs' mean; returns how many.

    ``means`` is kept in step with the pruning (removed channels dropped), so later groups of the same step
    index the right channels.
    """
    done = 0
    for dep, idxs in group:
        conv = dep.target.module
        if not isinstance(conv, nn.Conv2d) or dep.handler.__name__ != "prune_in_channels" or conv not in means:
            continue
        if conv.groups != 1:
            raise ValueError(f"bias compensation supports dense convolutions only, not groups={conv.groups}")
        mu = means[conv]
        idx = torch.as_tensor(sorted(int(i) for i in idxs), dtype=torch.long)
        delta = conv.weight[:, idx].sum((2, 3)).float() @ mu[idx].to(conv.weight.device)  # (out,)
        if conv in bns:
            bns[conv].running_mean.sub_(delta.to(bns[conv].running_mean.dtype))
        elif conv.bias is not None:
            conv.bias.add_(delta.to(conv.bias.dtype))
        else:
            continue
        keep = torch.ones(len(mu), dtype=torch.bool)
        keep[idx] = False
        means[conv] = mu[keep]
        done += 1
    return done


@torch.no_grad()
def recalibrate_bn(net: nn.Module, batches: list[torch.Tensor], passes: int = 3) -> None:
    """Re-measure every BN's running mean and variance on ``batches`` (weights and biases kept).

    Pruning shifts and rescales what each BN sees; normalising by the new statistics puts every layer back on
    the distribution the next one was trained for ("adaptive BN", EagleEye). One pass measures each layer under
    its upstream layers' old statistics, so a few passes let the corrections settle through the depth.
    """
    from ...train.bn_unfold import input_stats

    for _ in range(passes):
        for bn, (m, v) in input_stats(net, batches).items():
            bn.running_mean.copy_(m.to(bn.running_mean.dtype))
            bn.running_var.copy_(v.to(bn.running_var.dtype))
