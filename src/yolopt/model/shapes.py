"""Per-layer channel counts of a network, and rebuilding a network with given counts (pruned models)."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import C2f, Conv


def conv_channels(net: nn.Module) -> dict[str, list[int]]:
    """``{conv name: [out channels, in channels]}`` for every ``nn.Conv2d`` of ``net``, in module order."""
    return {name: [m.out_channels, m.in_channels] for name, m in net.named_modules() if isinstance(m, nn.Conv2d)}


def _resized(conv: nn.Conv2d, out_ch: int, in_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
                     bias=conv.bias is not None, padding_mode=conv.padding_mode).to(conv.weight.device)


@torch.no_grad()
def apply_channels(net: nn.Module, channels: dict[str, list[int]]) -> nn.Module:
    """Reshape a freshly built ``net`` in place to ``channels`` (from :func:`conv_channels`); weights load after.

    A C2f whose first conv is listed as two halves (``<c2f>.cv1.a.conv``) is split first, so its halves may
    differ in width. Raises ``ValueError`` for a conv name the network does not have.
    """
    for name, m in list(net.named_modules()):
        if isinstance(m, C2f) and f"{name}.cv1.a.conv" in channels:
            m.split_cv1()
    convs = dict(net.named_modules())
    unknown = [k for k in channels if not isinstance(convs.get(k), nn.Conv2d)]
    if unknown:
        raise ValueError(f"channel map names layers this network does not have: {unknown[:3]}")
    for name, m in list(net.named_modules()):
        if isinstance(m, Conv) and f"{name}.conv" in channels and hasattr(m, "bn"):
            out_ch, in_ch = channels[f"{name}.conv"]
            if [out_ch, in_ch] != [m.conv.out_channels, m.conv.in_channels]:
                m.conv = _resized(m.conv, out_ch, in_ch)
                m.bn = nn.BatchNorm2d(out_ch, eps=m.bn.eps, momentum=m.bn.momentum).to(m.conv.weight.device)
    for name, m in list(net.named_modules()):  # plain convs outside a Conv block (the head's output convs)
        for child_name, child in list(m.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if isinstance(child, nn.Conv2d) and full in channels and not isinstance(m, Conv):
                out_ch, in_ch = channels[full]
                if [out_ch, in_ch] != [child.out_channels, child.in_channels]:
                    setattr(m, child_name, _resized(child, out_ch, in_ch))
    return net
