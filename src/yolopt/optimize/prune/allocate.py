"""Sensitivity-guided allocation: how many channels each layer gives up, chosen by measured damage per MAC saved.

A uniform ratio takes as much from yolov8n's 16- and 32-channel stem as from its 256-channel neck, and those few
early channels carry everything downstream. Here every prunable group is tried alone at a few levels: its
lowest-importance channels are replaced by their mean (exactly what pruning with bias compensation leaves) and
the change of the network's decoded output on a few images is its damage; its MACs saving is counted. Then one
trade-off ``lam`` picks, for every group, the level minimising ``damage - lam * saving``, and ``lam`` is bisected
until the network meets the MACs target (Lagrangian allocation, as in rate-distortion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ...model.hooks import hooked
from .compensate import channel_means

LEVELS = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75)


@dataclass(frozen=True)
class Option:
    """Pruning group ``root`` (its root conv, or that conv's name) at ``ratio``: ``damage`` to the output,
    ``saving`` in MACs (fraction of the total)."""

    root: Any
    ratio: float
    damage: float
    saving: float


def conv_macs(net: nn.Module, size: int) -> dict[nn.Conv2d, float]:
    """MACs of every Conv2d of ``net`` on a ``size`` x ``size`` input."""
    macs: dict[nn.Conv2d, float] = {}

    def hook(m: nn.Conv2d, args: Any, out: torch.Tensor) -> None:
        macs[m] = float(out[0].numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    with hooked([m for m in net.modules() if isinstance(m, nn.Conv2d)], hook), torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size))
    return macs


def distortion(out: torch.Tensor, ref: torch.Tensor) -> float:
    """How far a decoded output (B, 4 + nc, A) is from the original's: class scores' relative squared error plus
    the box error weighted by the original's confidence, relative to the box sizes."""
    s, s0 = out[:, 4:], ref[:, 4:]
    w = s0.amax(1)
    cls = float(((s - s0) ** 2).sum() / (s0 ** 2).sum().clamp_min(1e-12))
    box = float((w * (out[:, :4] - ref[:, :4]).abs().sum(1)).sum() / (w * ref[:, 2:4].sum(1)).sum().clamp_min(1e-12))
    return cls + box


def _blocks(net: nn.Module) -> dict[nn.Conv2d, nn.Module]:
    """The conv -> bn -> act block around each Conv2d (its output is what consumers read)."""
    return {m.conv: m for m in net.modules() if isinstance(getattr(m, "conv", None), nn.Conv2d) and hasattr(m, "act")}


@torch.no_grad()
def _masked_damage(net: nn.Module, masks: dict[nn.Module, torch.Tensor], means: dict[nn.Module, torch.Tensor],
                   batches: list[torch.Tensor], refs: list[torch.Tensor]) -> float:
    """Damage when each block in ``masks`` outputs its channel means at the masked channels."""
    def hook(m: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
        out = out.clone()
        idx = masks[m]
        out[:, idx] = means[m][idx].view(1, -1, 1, 1)
        return out

    with hooked(masks, hook):
        return sum(distortion(net(x), r) for x, r in zip(batches, refs)) / len(batches)


@torch.no_grad()
def sensitivities(pruner: Any, net: nn.Module, batches: list[torch.Tensor], kept: Callable[[int, float], int],
                  size: int, levels: tuple[float, ...] = LEVELS,
                  log: Callable[[str], None] = lambda s: None) -> list[Option]:
    """Every prunable group of ``pruner`` tried alone at each of ``levels`` (``kept(channels, ratio)`` channels
    left, the pruner's own rounding): its damage on ``batches`` and its MACs saving."""
    import torch_pruning as tp

    net.eval()
    dg = pruner.DG
    blocks = _blocks(net)
    macs = conv_macs(net, size)
    total = sum(macs.values())
    means = channel_means(net, list(blocks.values()), batches, outputs=True)
    refs = [net(x) for x in batches]
    groups = list(dg.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types))
    options = []
    for gi, group in enumerate(groups):
        root = group[0][0].target.module
        channels = int(dg.get_out_channels(root))
        order = torch.argsort(pruner.importance(group).flatten().cpu())
        seen = set()
        for level in levels:
            n = channels - kept(channels, level)
            if n <= 0 or n in seen:
                continue
            seen.add(n)
            sub = dg.get_pruning_group(root, tp.prune_conv_out_channels, idxs=order[:n].tolist())
            masks, saving = {}, 0.0
            for dep, idxs in sub:
                m, name = dep.target.module, dep.handler.__name__
                if not isinstance(m, nn.Conv2d):
                    continue
                if name == "prune_out_channels":
                    saving += macs[m] * len(idxs) / m.out_channels
                    if m in blocks:
                        masks[blocks[m]] = torch.as_tensor(sorted(int(i) for i in idxs), dtype=torch.long)
                elif name == "prune_in_channels":
                    saving += macs[m] * len(idxs) / (m.in_channels // m.groups)
            damage = _masked_damage(net, masks, means, batches, refs)
            options.append(Option(root, level, damage, saving / total))
        if (gi + 1) % 10 == 0:
            log(f"  sensitivity: {gi + 1}/{len(groups)} groups")
    return options


def choose(options: list[Option], lam: float) -> dict[Any, float]:
    """Per group root, the ratio minimising ``damage - lam * saving`` (no pruning scores 0)."""
    best: dict[Any, tuple[float, float]] = {}
    for o in options:
        cost = o.damage - lam * o.saving
        if cost < best.get(o.root, (0.0, 0.0))[0]:
            best[o.root] = (cost, o.ratio)
    return {root: ratio for root, (_, ratio) in best.items()}


def allocate(options: list[Option], target: float, macs_fraction: Callable[[dict[Any, float]], float],
             log: Callable[[str], None] = lambda s: None, max_ratio: float = LEVELS[-1]) -> dict[Any, float]:
    """The per-group ratios of the smallest trade-off whose pruned network keeps at most ``target`` of the MACs.

    ``macs_fraction(ratios)`` measures it (savings of groups overlap, so the options' sum is only a guide);
    no group gives up more than ``max_ratio`` of its channels.
    """
    options = [o for o in options if o.ratio <= max_ratio + 1e-9]
    lo, hi = 0.0, 1.0
    while macs_fraction(choose(options, hi)) > target:
        lo, hi = hi, hi * 4
        if hi > 1e12:
            raise ValueError(f"MACs target {target} is below what every group at its largest level gives")
    for _ in range(24):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if macs_fraction(choose(options, mid)) > target else (lo, mid)
        if hi - lo < 1e-3 * hi:
            break
    ratios = choose(options, hi)
    log(f"  allocation: {len(ratios)} groups pruned, {macs_fraction(ratios):.3f} of the MACs")
    return ratios
