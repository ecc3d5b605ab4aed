"""Gradients of the detection loss for ``taylor`` importance: |weight x gradient| ranks what the loss needs."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .errors import PruneError


def labelled_batches(data: str | Path, imgsz: int = 320, images: int = 32, batch: int = 8
                     ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Up to ``images`` labelled training images (no augmentation) as (float images, targets) batches."""
    from ...train.dataset import DatasetError
    from ...train.loader import build_train_loader

    try:
        loader = build_train_loader(data, imgsz, batch, workers=0, augment=False, shuffle=False)
    except DatasetError as e:
        raise PruneError(f"--data {data}: {e}") from e
    out = []
    for b in loader:
        out.append((b.img.float() / 255, b.targets))
        if sum(len(x) for x, _ in out) >= images:
            break
    return out


def loss_gradients(net: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], nc: int) -> float:
    """Fill every parameter's ``.grad`` with the detection loss's gradient over ``batches``; returns the mean loss.

    BatchNorm stays in eval mode (the statistics the pruned model will run with); only the head switches to its
    training outputs, the raw logits the loss takes.
    """
    from ...train.loss import DetectionLoss

    if not batches:
        raise PruneError("importance 'taylor' needs labelled training images (--data)")
    criterion = DetectionLoss(nc)
    net.eval()
    head = net.model[-1]
    head.training = True
    net.zero_grad(set_to_none=True)
    total = 0.0
    try:
        for img, targets in batches:
            box, cls = net(img)
            loss, _ = criterion(box, cls, targets, tuple(img.shape[2:]))
            loss.backward()
            total += float(loss.detach())
    finally:
        head.training = False
    return total / len(batches)
