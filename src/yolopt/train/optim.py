"""Optimiser and learning-rate schedule as YOLOv8 trains: three parameter groups, warmup, linear or cosine decay."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

#: Nominal batch size: gradients are accumulated until about this many images went into one step.
NOMINAL_BATCH = 64


def param_groups(net: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
    """(weights that decay, BatchNorm weights, biases): BN weights and all biases get no weight decay."""
    decay, bn_w, bias = [], [], []
    for mod in net.modules():
        for name, p in mod.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                bias.append(p)
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm) or "norm" in type(mod).__name__.lower():
                bn_w.append(p)
            else:
                decay.append(p)
    return decay, bn_w, bias


def build_optimizer(net: nn.Module, name: str = "SGD", lr: float = 0.01, momentum: float = 0.937,
                    weight_decay: float = 5e-4) -> torch.optim.Optimizer:
    """SGD (Nesterov) or AdamW over :func:`param_groups`; group 0 decays, 1 (BN) and 2 (biases) do not."""
    decay, bn_w, bias = param_groups(net)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": bn_w, "weight_decay": 0.0},
              {"params": bias, "weight_decay": 0.0}]
    key = name.lower()
    if key == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)
    elif key == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999))
    else:
        raise ValueError(f"unknown optimizer {name!r}; expected SGD, AdamW or auto")
    for g in opt.param_groups:
        g["initial_lr"] = lr
    return opt


def auto_optimizer(iterations: int, nc: int) -> tuple[str, float, float]:
    """(name, lr, momentum) the way YOLOv8 picks them: AdamW with a class-count-fitted LR for short runs, else SGD."""
    if iterations > 10_000:
        return "SGD", 0.01, 0.937
    return "AdamW", round(0.002 * 5 / (4 + nc), 6), 0.9


@dataclass
class Schedule:
    """Per-iteration LR and momentum: warmup from ``warmup_bias_lr`` (biases) / 0 (others), then linear or cosine to lrf."""

    epochs: int
    lrf: float = 0.01
    cosine: bool = False
    warmup_iters: int = 100
    warmup_bias_lr: float = 0.1
    warmup_momentum: float = 0.8
    momentum: float = 0.937

    def factor(self, epoch: float) -> float:
        """LR multiplier at ``epoch`` (0-based)."""
        x = epoch / max(self.epochs, 1)
        if self.cosine:
            return ((1 - math.cos(x * math.pi)) / 2) * (self.lrf - 1) + 1
        return (1 - x) * (1 - self.lrf) + self.lrf

    def apply(self, opt: torch.optim.Optimizer, epoch: int, it: int) -> None:
        """Set each group's LR (and momentum) for global iteration ``it`` within ``epoch``."""
        f = self.factor(epoch)
        warm = it < self.warmup_iters
        for j, g in enumerate(opt.param_groups):
            target = g["initial_lr"] * f
            if warm:
                start = self.warmup_bias_lr if j == 2 else 0.0
                g["lr"] = float(np.interp(it, [0, self.warmup_iters], [start, target]))
                mom = float(np.interp(it, [0, self.warmup_iters], [self.warmup_momentum, self.momentum]))
            else:
                g["lr"] = target
                mom = self.momentum
            if "momentum" in g:
                g["momentum"] = mom
            elif "betas" in g:
                g["betas"] = (mom, g["betas"][1])

    def accumulate(self, it: int, batch: int, nominal: int = NOMINAL_BATCH) -> int:
        """Batches per optimizer step at iteration ``it``: ramps from 1 to ``nominal / batch`` during warmup."""
        full = max(round(nominal / batch), 1)
        if it >= self.warmup_iters:
            return full
        return max(1, int(np.interp(it, [0, self.warmup_iters], [1, nominal / batch]).round()))


def freeze(net: nn.Module, n: int) -> list[str]:
    """Stop gradients for the first ``n`` layers (``model.0`` .. ``model.{n-1}``); returns the frozen names."""
    frozen = []
    prefixes = tuple(f"model.{i}." for i in range(n))
    for name, p in net.named_parameters():
        if name.startswith(prefixes):
            p.requires_grad_(False)
            frozen.append(name)
    return frozen
