"""Knowledge-distillation loss terms for YOLOv8, as pure functions of student and teacher outputs.

Shapes follow the head's training-mode outputs: DFL logits (B, 4 * reg_max, A) and class logits (B, nc, A),
anchors in the same order for student and teacher (same strides and input size). Each term is zero when the
student equals the teacher and is multiplied by T² so its gradient scale does not shrink with the temperature
(Hinton et al., 2015). The trainer weighs and adds them to the detection loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class DistillWeights:
    """Weight of each term in the total loss (0 turns a term off) and the temperatures."""

    cls: float = 1.0
    dfl: float = 1.0
    feature: float = 0.0
    cls_temperature: float = 1.0
    dfl_temperature: float = 1.0
    feature_temperature: float = 4.0


def _masked_mean(per_anchor: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of (B, A) values over the anchors in ``mask`` (all when None); 0 (with a graph) when none is."""
    if mask is None:
        return per_anchor.mean()
    m = mask.to(per_anchor.dtype)
    return (per_anchor * m).sum() / m.sum().clamp(min=1.0)


def class_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Class-logit distillation: binary KL(teacher ‖ student) of the temperature-softened per-class sigmoids.

    YOLOv8 scores each class with its own sigmoid (not a softmax over classes), so the soft target of class c
    at an anchor is sigmoid(teacher / T) and the divergence is the Bernoulli KL, summed over classes and
    averaged over anchors (those in ``mask`` (B, A) when given). ``teacher`` is not differentiated.
    """
    t = teacher.detach() / temperature
    s = student / temperature
    p = torch.sigmoid(t)
    kl = p * (F.logsigmoid(t) - F.logsigmoid(s)) + (1 - p) * (F.logsigmoid(-t) - F.logsigmoid(-s))
    return _masked_mean(kl.sum(1), mask) * temperature**2


def dfl_kd(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor | None = None,
           temperature: float = 1.0, reg_max: int = 16) -> torch.Tensor:
    """Box-distribution distillation: KL(teacher ‖ student) of each side's softmax over ``reg_max`` bins.

    ``student``/``teacher``: (B, 4 * reg_max, A) DFL logits; the KL is averaged over the four sides and over the
    anchors in ``mask`` (B, A) — e.g. the assigner's foreground or :func:`confident_anchors` — where the boxes
    matter; background anchors' distributions carry no box to learn from.
    """
    b, _, a = student.shape
    s = F.log_softmax(student.view(b, 4, reg_max, a) / temperature, 2)
    t = F.log_softmax(teacher.detach().view(b, 4, reg_max, a) / temperature, 2)
    kl = (t.exp() * (t - s)).sum(2).mean(1)  # (B, A)
    return _masked_mean(kl, mask) * temperature**2


def confident_anchors(teacher_cls: torch.Tensor, threshold: float = 0.25) -> torch.Tensor:
    """(B, A) mask of anchors where the teacher's best class score reaches ``threshold`` (label-free selection)."""
    return teacher_cls.detach().sigmoid().amax(1) >= threshold


def channel_wise_kd(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Channel-wise distillation (Shu et al., ICCV 2021): per channel, KL between the teacher's and the student's
    softmax over spatial positions; averaged over channels and images. Both (B, C, H, W) with the same C."""
    if student.shape != teacher.shape:
        raise ValueError(f"feature shapes differ: student {tuple(student.shape)}, teacher {tuple(teacher.shape)} "
                         "(map the student through a FeatureAdapters first)")
    b, c, h, w = student.shape
    s = F.log_softmax(student.reshape(b * c, h * w) / temperature, 1)
    t = F.log_softmax(teacher.detach().reshape(b * c, h * w) / temperature, 1)
    return (t.exp() * (t - s)).sum(1).mean() * temperature**2


class FeatureAdapters(nn.Module):
    """One 1x1 conv per neck output mapping the student's channels to the teacher's (trained with the student)."""

    def __init__(self, student_channels: list[int], teacher_channels: list[int]):
        super().__init__()
        if len(student_channels) != len(teacher_channels):
            raise ValueError(f"{len(student_channels)} student levels for {len(teacher_channels)} teacher levels")
        self.convs = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in zip(student_channels, teacher_channels))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [conv(f) for conv, f in zip(self.convs, feats)]


def feature_kd(student: list[torch.Tensor], teacher: list[torch.Tensor], adapters: FeatureAdapters,
               temperature: float = 4.0) -> torch.Tensor:
    """Channel-wise distillation summed over neck levels, the student's features passed through ``adapters``."""
    return sum((channel_wise_kd(s, t, temperature) for s, t in zip(adapters(student), teacher)),
               start=student[0].new_zeros(()))


def distill_terms(student: tuple[torch.Tensor, torch.Tensor], teacher: tuple[torch.Tensor, torch.Tensor],
                  weights: DistillWeights, mask: torch.Tensor | None = None,
                  features: tuple[list[torch.Tensor], list[torch.Tensor], FeatureAdapters] | None = None
                  ) -> dict[str, torch.Tensor]:
    """The weighted terms by name (``cls``, ``dfl``, ``feature``) from (DFL logits, class logits) of both models.

    ``mask`` selects the anchors for the DFL term (default: where the teacher is confident); ``features`` is
    (student neck outputs, teacher neck outputs, adapters) for the feature term.
    """
    (s_box, s_cls), (t_box, t_cls) = student, teacher
    reg_max = s_box.shape[1] // 4
    mask = confident_anchors(t_cls) if mask is None else mask
    terms = {"cls": weights.cls * class_kd(s_cls, t_cls, weights.cls_temperature),
             "dfl": weights.dfl * dfl_kd(s_box, t_box, mask, weights.dfl_temperature, reg_max)}
    if weights.feature and features is not None:
        terms["feature"] = weights.feature * feature_kd(*features, temperature=weights.feature_temperature)
    return terms
