"""Exponential moving average of the weights (and BN statistics), with YOLOv8's decay ramp."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ModelEMA:
    """EMA copy of a network; decay ``d * (1 - exp(-updates / tau))`` so early updates follow the model closely."""

    def __init__(self, net: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0):
        self.net = copy.deepcopy(unwrap(net)).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, updates

    def d(self) -> float:
        return self.decay * (1 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        """Blend the current weights in (after each optimizer step)."""
        self.updates += 1
        d = self.d()
        src = unwrap(net).state_dict()
        for k, v in self.net.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(src[k].detach(), alpha=1 - d)


def unwrap(net: nn.Module) -> nn.Module:
    """The bare network inside a DistributedDataParallel wrapper."""
    return net.module if hasattr(net, "module") and isinstance(net, nn.parallel.DistributedDataParallel) else net
