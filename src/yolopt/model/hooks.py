"""Look at what layers receive: one eval-mode pass over some batches with a hook before each chosen layer."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn


@torch.no_grad()
def run_with_input_hooks(net: nn.Module, modules: Iterable[nn.Module], hook: Callable[..., None],
                         batches: Iterable[torch.Tensor], pre: bool = True) -> None:
    """Run ``batches`` through ``net`` in eval mode calling ``hook(module, inputs)`` before each of ``modules``
    (with ``pre=False``: ``hook(module, inputs, output)`` after each); the hooks are removed and ``net``'s
    train/eval mode restored afterwards, also on error."""
    was_training = net.training
    net.eval()
    try:
        with hooked(modules, hook, pre=pre):
            for x in batches:
                net(x)
    finally:
        net.train(was_training)


@contextlib.contextmanager
def hooked(modules: Iterable[nn.Module], hook: Callable[..., Any], pre: bool = False) -> Iterator[None]:
    """``hook`` on each of ``modules`` (a forward hook, or with ``pre`` a forward pre-hook) inside the ``with``
    block only: removed on leaving it, also on error."""
    handles = [m.register_forward_pre_hook(hook) if pre else m.register_forward_hook(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
