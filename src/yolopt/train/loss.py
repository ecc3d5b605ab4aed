"""YOLOv8 detection loss: CIoU box loss, distribution focal loss and BCE class loss over task-aligned targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..model.head import make_anchors
from .assigner import TaskAlignedAssigner, ciou


@dataclass(frozen=True)
class LossGains:
    """Weights of the three terms (YOLOv8's defaults)."""

    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5


def padded_targets(targets: torch.Tensor, batch: int, size_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows ``[batch_index, class, cx, cy, w, h]`` (normalised) -> labels (B, M), xyxy pixel boxes (B, M, 4), mask (B, M)."""
    dev = targets.device
    if targets.shape[0] == 0:
        return (torch.zeros(batch, 0, dtype=torch.long, device=dev), torch.zeros(batch, 0, 4, device=dev),
                torch.zeros(batch, 0, dtype=torch.bool, device=dev))
    bi = targets[:, 0].long()
    order = torch.argsort(bi, stable=True)
    bi, t = bi[order], targets[order]
    counts = torch.bincount(bi, minlength=batch)
    slot = torch.arange(len(bi), device=dev) - (torch.cumsum(counts, 0) - counts)[bi]
    m = int(counts.max())
    h, w = size_hw
    xywh = t[:, 2:6] * torch.tensor([w, h, w, h], dtype=t.dtype, device=dev)
    xyxy = torch.cat((xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    labels = torch.zeros(batch, m, dtype=torch.long, device=dev)
    boxes = torch.zeros(batch, m, 4, dtype=t.dtype, device=dev)
    labels[bi, slot] = t[:, 1].long()
    boxes[bi, slot] = xyxy
    return labels, boxes, boxes.sum(-1) > 0


def decode_dfl(dist: torch.Tensor, anchors: torch.Tensor, reg_max: int = 16) -> torch.Tensor:
    """DFL logits (B, A, 4*reg_max) -> xyxy boxes (B, A, 4) in grid units around ``anchors`` (A, 2)."""
    b, a, _ = dist.shape
    proj = torch.arange(reg_max, dtype=dist.dtype, device=dist.device)
    ltrb = dist.view(b, a, 4, reg_max).softmax(3).matmul(proj)
    return torch.cat((anchors - ltrb[..., :2], anchors + ltrb[..., 2:]), -1)


def dfl_loss(dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution focal loss: cross-entropy to the two bins around each continuous target, linearly weighted.

    ``dist`` (N, 4, reg_max) logits, ``target`` (N, 4) distances in bins; returns (N,) mean over the four sides.
    """
    reg_max = dist.shape[-1]
    tl = target.long()
    wl = tl + 1 - target
    logp = dist.log_softmax(-1)
    left = logp.gather(-1, tl[..., None]).squeeze(-1)
    right = logp.gather(-1, (tl + 1).clamp(max=reg_max - 1)[..., None]).squeeze(-1)
    return -(left * wl + right * (1 - wl)).mean(-1)


class DetectionLoss:
    """The YOLOv8 loss of one batch: ``(total * batch_size, detached (box, cls, dfl))``."""

    def __init__(self, nc: int, strides: tuple[int, ...] = (8, 16, 32), reg_max: int = 16,
                 gains: LossGains = LossGains(), topk: int = 10, alpha: float = 0.5, beta: float = 6.0,
                 score_sum_fn: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.nc, self.strides, self.reg_max, self.gains = nc, tuple(strides), reg_max, gains
        self.score_sum_fn = score_sum_fn  # e.g. an all-reduce: normalise by the whole distributed batch
        self.assigner = TaskAlignedAssigner(nc, topk, alpha, beta, tuple(float(s) for s in strides))

    def __call__(self, box_logits: torch.Tensor, cls_logits: torch.Tensor, targets: torch.Tensor,
                 size_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``box_logits`` (B, 4*reg_max, A), ``cls_logits`` (B, nc, A) as the head emits them in training mode;
        ``targets`` (N, 6) ``[batch_index, class, cx, cy, w, h]`` normalised to the ``size_hw`` input."""
        b = box_logits.shape[0]
        dist = box_logits.permute(0, 2, 1).float()  # (B, A, 64)
        logits = cls_logits.permute(0, 2, 1).float()  # (B, A, nc)
        h, w = size_hw
        grid = [torch.empty(0, 0, h // s, w // s, device=dist.device) for s in self.strides]
        anchors, stride = make_anchors(grid, [float(s) for s in self.strides])
        if anchors.shape[0] != dist.shape[1]:
            raise ValueError(f"head output has {dist.shape[1]} anchors, a {h}x{w} input has {anchors.shape[0]}")
        labels, gt_boxes, gt_mask = padded_targets(targets.to(dist.device, torch.float32), b, size_hw)

        pred = decode_dfl(dist, anchors, self.reg_max)  # grid units
        t = self.assigner(logits.detach().sigmoid(), pred.detach() * stride, anchors * stride, labels, gt_boxes,
                          gt_mask)
        score_sum = t.scores.sum()
        if self.score_sum_fn is not None:
            score_sum = self.score_sum_fn(score_sum)
        score_sum = score_sum.clamp(min=1)
        loss_cls = F.binary_cross_entropy_with_logits(logits, t.scores, reduction="sum") / score_sum

        if t.fg.any():
            weight = t.scores.sum(-1)[t.fg]  # (F,)
            t_boxes = t.boxes / stride
            iou = ciou(pred[t.fg], t_boxes[t.fg])
            loss_box = ((1.0 - iou) * weight).sum() / score_sum
            a = anchors.expand(b, -1, -1)[t.fg]
            ltrb = torch.cat((a - t_boxes[t.fg][:, :2], t_boxes[t.fg][:, 2:] - a), -1).clamp(0, self.reg_max - 1.01)
            loss_dfl = (dfl_loss(dist[t.fg].view(-1, 4, self.reg_max), ltrb) * weight).sum() / score_sum
        else:
            loss_box = loss_dfl = dist.sum() * 0.0
        items = torch.stack((loss_box * self.gains.box, loss_cls * self.gains.cls, loss_dfl * self.gains.dfl))
        return items.sum() * b, items.detach()
