"""Least-squares reconstruction: re-fit each pruned conv so that it reproduces the original network's output.

Removing channels takes inputs away from every conv that read them. Layer by layer, in forward order, each conv's
weights are re-solved (ridge least squares) so that, fed what the *pruned* network now gives it, it outputs what
the *original* conv output on the same images (for the output channels it kept) — channel pruning with feature
reconstruction (He et al. 2017, ThiNet). Going in order lets every layer also correct the error its predecessors
left. It needs a few dozen unlabelled images and no gradients; fine-tuning then starts from a network that still
detects.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ...model.hooks import hooked


class _Stop(Exception):
    """Raised by a hook to end a forward pass once the layer of interest has run."""


def _captured(net: nn.Module, conv: nn.Conv2d, x: torch.Tensor, want: str) -> torch.Tensor:
    """``conv``'s input (``want='in'``) or output (``'out'``) when ``net`` runs ``x``; stops the pass there."""
    got: list[torch.Tensor] = []

    def hook(mod: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        got.append(args[0] if want == "in" else out)
        raise _Stop

    with hooked([conv], hook), contextlib.suppress(_Stop):
        net(x)
    if not got:
        raise RuntimeError(f"{conv} did not run in the forward pass")
    return got[0]


def _patches(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """The conv's input as a (positions, in_channels * kh * kw [+ 1 for the bias]) matrix."""
    cols = F.unfold(x, conv.kernel_size, conv.dilation, conv.padding, conv.stride)  # (N, C*k*k, L)
    cols = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    if conv.bias is not None:
        cols = torch.cat([cols, torch.ones(len(cols), 1, dtype=cols.dtype)], 1)
    return cols


RIDGES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def _flat(conv: nn.Conv2d) -> torch.Tensor:
    """The conv's weights (and bias) as an (out, in * kh * kw [+ 1]) float64 matrix."""
    w = conv.weight.detach().reshape(conv.out_channels, -1).double()
    return torch.cat([w, conv.bias.detach().double()[:, None]], 1) if conv.bias is not None else w


def _solve(gram: torch.Tensor, cross: torch.Tensor, w0: torch.Tensor, ridge: float) -> torch.Tensor:
    """Ridge least squares pulled towards ``w0``: argmin |XW' - Y|^2 + lam |W - w0|^2, lam relative to X's scale."""
    lam = ridge * float(gram.diagonal().mean()) + 1e-12
    return torch.linalg.solve(gram + lam * torch.eye(len(gram), dtype=gram.dtype), cross + lam * w0.T).T


def _error(w: torch.Tensor, gram: torch.Tensor, cross: torch.Tensor) -> float:
    """|XW' - Y|^2 up to a constant, from the Gram matrices alone."""
    return float((w @ gram * w).sum() - 2 * (w * cross.T).sum())


@torch.no_grad()
def refit(conv: nn.Conv2d, folds: list[tuple[torch.Tensor, torch.Tensor]]) -> float | None:
    """Re-fit ``conv`` in place from two folds of (X^T X, X^T Y); returns the ridge used, None if kept as it was.

    The ridge is the one whose fit on each fold best predicts the other; the current weights are a candidate
    too, so a layer with too few positions for its inputs (deep layers on few small images) is not over-fitted.
    """
    w0 = _flat(conv)
    (ga, ca), (gb, cb) = folds
    scores = {None: _error(w0, ga, ca) + _error(w0, gb, cb)}
    for r in RIDGES:
        scores[r] = _error(_solve(ga, ca, w0, r), gb, cb) + _error(_solve(gb, cb, w0, r), ga, ca)
    best = min(scores, key=lambda k: scores[k])
    if best is None:
        return None
    w = _solve(ga + gb, ca + cb, w0, best)
    if conv.bias is not None:
        conv.bias.copy_(w[:, -1].to(conv.bias.dtype))
        w = w[:, :-1]
    conv.weight.copy_(w.reshape(conv.weight.shape).to(conv.weight.dtype))
    return best


@torch.no_grad()
def reconstruct(pruned: nn.Module, original: nn.Module, kept: dict[str, torch.Tensor],
                batches: Iterable[torch.Tensor], log: Callable[[str], None] = lambda s: None) -> int:
    """Re-fit every conv of ``pruned`` (eval mode) to the outputs of the same-named conv of ``original``.

    ``kept[name]`` are the indices of the original output channels a conv kept (absent: all). The images are
    split in two folds (alternate images) to choose each layer's ridge. Returns how many convs changed;
    grouped convs are left as they are.
    """
    batches = list(batches)
    if len(batches) < 2:
        raise ValueError("re-fitting needs at least two images (two folds choose the ridge)")
    orig = dict(original.named_modules())
    pruned.eval(), original.eval()
    convs = [(n, m) for n, m in pruned.named_modules() if isinstance(m, nn.Conv2d) and m.groups == 1]
    done = 0
    for i, (name, conv) in enumerate(convs):
        idx = kept.get(name)
        folds = []
        for part in (batches[0::2], batches[1::2]):
            gram = cross = 0
            for x in part:
                cols = _patches(conv, _captured(pruned, conv, x, "in")).double()
                y = _captured(original, orig[name], x, "out")
                y = (y if idx is None else y[:, idx]).permute(0, 2, 3, 1).reshape(-1, conv.out_channels).double()
                gram, cross = gram + cols.T @ cols, cross + cols.T @ y
            folds.append((gram, cross))
        done += refit(conv, folds) is not None
        if (i + 1) % 16 == 0:
            log(f"  re-fitted {i + 1}/{len(convs)} convs")
    return done
