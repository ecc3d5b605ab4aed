"""Knowledge distillation in training: a frozen teacher run on the student's batch, its outputs as soft targets.

The loss terms are :mod:`yolopt.optimize.distill`'s pure functions; this module holds the teacher (eval mode,
no gradients), catches both models' neck outputs for the feature term, and owns the 1x1 adapters that term
trains with the student.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..model import OFFICIAL, YoloModel, load_model
from ..model.head import Detect
from ..optimize.distill import DistillWeights, FeatureAdapters, distill_terms
from .config import TrainConfigError
from .results import KD_COLUMNS

#: Loss items of a distilled step, after the detection loss's (box, cls, dfl).
KD_ITEMS = KD_COLUMNS


def load_named(path: str | Path, option: str) -> YoloModel:
    """The model ``option`` (``--model``, ``--teacher``) names — a file or an official name — or a
    :class:`TrainConfigError` naming the option and the value."""
    key = str(path)
    if not Path(key).exists() and key not in OFFICIAL:
        raise TrainConfigError(f"{option} {key!r}: no such file, and not a model name ({', '.join(OFFICIAL)})")
    try:
        return load_model(key)
    except (ValueError, OSError, RuntimeError) as e:
        raise TrainConfigError(f"{option} {key}: {e}") from e


def load_model_checked(path: str | Path, option: str = "--teacher") -> YoloModel:
    """The teacher model named by ``option``, or a :class:`TrainConfigError` naming it."""
    key = str(path)
    teacher = load_named(key, option)
    if not isinstance(teacher.net.model[-1], Detect):
        raise TrainConfigError(f"{option} {key}: not a YOLOv8 detector")
    return teacher


def class_list(names: dict[int, str]) -> list[str]:
    return [names[i] for i in sorted(names)]


def check_classes(teacher: YoloModel, names: dict[int, str], key: str | Path | None, other: str,
                  option: str = "--teacher") -> None:
    """Distillation needs the teacher to predict exactly ``names`` (count, names and order), else an error."""
    tn, sn = class_list(teacher.names), class_list(names)
    if tn == sn:
        return
    n = min(len(tn), len(sn))
    diff = next((i for i in range(n) if tn[i] != sn[i]), n)
    where = f"class {diff} is {tn[diff]!r} for the teacher, {sn[diff]!r} for {other}" if diff < n else \
        "one list extends the other"
    raise TrainConfigError(f"{option} {key}: it predicts {len(tn)} classes, {other} has {len(sn)}; {where}. "
                           "Distillation needs the same class set in the same order")


def _catch_inputs(det: nn.Module, store: dict[str, list[torch.Tensor]]) -> torch.utils.hooks.RemovableHandle:
    def hook(_: nn.Module, args: tuple) -> None:
        store["feats"] = list(args[0])

    return det.register_forward_pre_hook(hook)


class Distiller:
    """``distiller(img, (box, cls))`` → the weighted distillation terms of one batch, by name."""

    def __init__(self, teacher: YoloModel, student: nn.Module, weights: DistillWeights, device: torch.device):
        self.weights = weights
        self.net = teacher.net.float().to(device).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.head = self.net.model[-1]
        self.head.training = True  # the head alone: raw DFL and class logits; every BatchNorm stays in eval mode
        self._t: dict[str, list[torch.Tensor]] = {}
        self._s: dict[str, list[torch.Tensor]] = {}
        self.adapters: FeatureAdapters | None = None
        if weights.feature:
            _catch_inputs(self.head, self._t)
            _catch_inputs(student.model[-1], self._s)
            self.adapters = FeatureAdapters(_neck_channels(student), _neck_channels(self.net)).to(device)

    @torch.no_grad()
    def teacher_outputs(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        box, cls = self.net(img)
        return box.float(), cls.float()

    def __call__(self, img: torch.Tensor, student: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        teacher = self.teacher_outputs(img)
        feats = None
        if self.adapters is not None:
            feats = ([f.float() for f in self._s["feats"]], [f.float() for f in self._t["feats"]], self.adapters)
        return distill_terms((student[0].float(), student[1].float()), teacher, self.weights, features=feats)


def _neck_channels(net: nn.Module) -> list[int]:
    """Input channels of each level of the head (the neck's outputs), read from its first box conv."""
    det = net.model[-1]
    return [int(seq[0].conv.in_channels) for seq in det.cv2]
