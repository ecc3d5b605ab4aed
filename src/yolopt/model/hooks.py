"""Look at what layers receive: one eval-mode pass over some batches with a hook before each chosen layer."""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn


@torch.no_grad()
def run_with_input_hooks(net: nn.Module, modules: Iterable[nn.Module], hook: Callable[[nn.Module, tuple], None],
                         batches: Iterable[torch.Tensor]) -> None:
    """Run ``batches`` through ``net`` in eval mode calling ``hook(module, inputs)`` before each of ``modules``;
    the hooks are removed and ``net``'s train/eval mode restored afterwards, also on error."""
    was_training = net.training
    net.eval()
    handles = [m.register_forward_pre_hook(hook) for m in modules]
    try:
        for x in batches:
            net(x)
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
