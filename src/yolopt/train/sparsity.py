"""Sparsity training (network slimming, Liu et al. 2017): an L1 pull on BatchNorm scales, and their histogram.

Channels whose BN scale reaches ~0 output a constant, so ``bn`` importance can prune them at little cost. The
penalty ``λ·Σ|γ|`` is applied as its subgradient ``λ·sign(γ)`` added to each scale's gradient after clipping,
so clipping cannot scale the pull away.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .bn_unfold import batchnorms

#: Histogram bin edges of |γ|: log-spaced, so the mass near zero that sparsity builds up is visible.
EDGES = np.concatenate(([0.0], np.logspace(-4, 1, 21)))


@torch.no_grad()
def add_l1_grad(bns: list[nn.modules.batchnorm._BatchNorm], lam: float) -> None:
    """Add ``lam * sign(weight)`` to every BN scale's gradient (the L1 subgradient)."""
    for bn in bns:
        if bn.weight is not None and bn.weight.grad is not None:
            bn.weight.grad.add_(torch.sign(bn.weight), alpha=lam)


def scale_histogram(net: nn.Module) -> dict[str, Any]:
    """Counts of |γ| over every BN channel in :data:`EDGES` (the last bin takes all above), with summary figures."""
    g = np.abs(np.concatenate([bn.weight.detach().float().cpu().numpy() for bn in batchnorms(net)]))
    counts, _ = np.histogram(np.clip(g, 0, EDGES[-1]), EDGES)
    return {"edges": [float(e) for e in EDGES], "counts": [int(c) for c in counts], "channels": int(g.size),
            "median": float(np.median(g)), "below_0.01": float(np.mean(g < 0.01)), "below_0.1": float(np.mean(g < 0.1))}


def plot_histograms(hists: dict[str, dict[str, Any]], path: Path, title: str) -> Path:
    """One step line per histogram (e.g. before/after), log x axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.8))
    for name, h in hists.items():
        e = np.array(h["edges"])
        ax.stairs(h["counts"], np.maximum(e, 1e-5), label=f"{name} (median {h['median']:.3g}, "
                  f"{h['below_0.01']:.0%} < 0.01)")
    ax.set_xscale("log")
    ax.set_xlabel("|BatchNorm scale|")
    ax.set_ylabel("channels")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
