"""Knowledge distillation in training: a frozen teacher run on the student's batch, its outputs as soft targets.

The loss terms are :mod:`yolopt.optimize.distill`'s pure functions; this module holds the teacher (eval mode,
no gradients), catches both models' neck outputs for the feature term, and owns the 1x1 adapters that term
trains with the student.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..model import OFFICIAL, YoloModel, load_model
from ..model.head import Detect
from ..model.hooks import hooked
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
    """``distiller(img, (box, cls))`` → the weighted distillation terms of one batch, by name.

    ``share``: how many leading layers of the student may stand in for the teacher's. The first batch compares
    the two models' outputs layer by layer; the leading layers that agree (a pruned student whose frozen
    backbone is the teacher's) are then not computed again by the teacher: it takes the student's outputs. Only
    layers with no gradient and the teacher's eval-mode outputs pass, so they stay equal for the whole run
    (recovering a pruned yolov8n with ``--freeze 15`` on 2 CPU cores: 3.6–4.1 s a step instead of 5.2–5.6).
    """

    def __init__(self, teacher: YoloModel, student: nn.Module, weights: DistillWeights, device: torch.device,
                 share: int = 0, log: Callable[[str], None] = lambda s: None):
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
        self.shared: int | None = None if share > 0 else 0  # decided on the first batch
        self._student_out: dict[int, torch.Tensor] = {}
        layers = {m: i for i, m in enumerate(list(student.model)[:min(share, len(self.net.model) - 1)])}
        self._hooks = [m.register_forward_hook(_catcher(layers, self._student_out)) for m in layers]
        self._log = log

    @torch.no_grad()
    def teacher_outputs(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shared is None:
            own: dict[int, torch.Tensor] = {}
            layers = {self.net.model[i]: i for i in self._student_out}
            with hooked(layers, _catcher(layers, own)):
                box, cls = self.net(img)
            self._decide_shared(own)
        else:
            n = self.shared if all(i in self._student_out for i in range(self.shared)) else 0
            with _replayed(self.net, self._student_out, n):
                box, cls = self.net(img)
        self._student_out.clear()
        return box.float(), cls.float()

    def _decide_shared(self, own: dict[int, torch.Tensor]) -> None:
        """Share the leading layers whose student outputs equal the teacher's (``own``) on the first batch."""
        n = 0
        while n in own and n in self._student_out and _same(self._student_out[n], own[n]):
            n += 1
        self.shared = n
        for h in self._hooks[n:]:  # the layers after them are the teacher's own: stop keeping their outputs
            h.remove()
        if n:
            self._log(f"distillation: the student's first {n} layers compute what the teacher's do (frozen, the "
                      "same weights): the teacher takes their outputs instead of computing them again")

    def __call__(self, img: torch.Tensor, student: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        teacher = self.teacher_outputs(img)
        feats = None
        if self.adapters is not None:
            feats = ([f.float() for f in self._s["feats"]], [f.float() for f in self._t["feats"]], self.adapters)
        return distill_terms((student[0].float(), student[1].float()), teacher, self.weights, features=feats)


def _catcher(layers: dict[nn.Module, int], store: dict[int, torch.Tensor]) -> Callable[..., None]:
    """A forward hook keeping each of ``layers``' output in ``store`` by its index, when no gradient flows
    through it (a frozen layer)."""
    def hook(m: nn.Module, args: tuple, out: Any) -> None:
        if isinstance(out, torch.Tensor) and not out.requires_grad:
            store[layers[m]] = out

    return hook


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same layer output up to storage rounding: relative L2 error ≤ 1 % (a checkpoint kept in half
    precision gives ≤ 0.3 % after 15 layers of yolov8n and moves the teacher's logits by < 0.1 %; a layer that
    was trained or pruned differs by far more)."""
    return a.shape == b.shape and a.dtype == b.dtype and float((a - b).norm()) <= 0.01 * float(b.norm())


class _Replay(nn.Module):
    """Stands in for layer ``i``: returns the output the student computed for it."""

    def __init__(self, store: dict[int, torch.Tensor], i: int):
        super().__init__()
        self.store, self.i = store, i

    def forward(self, *_: Any) -> torch.Tensor:
        return self.store[self.i]


@contextlib.contextmanager
def _replayed(net: nn.Module, store: dict[int, torch.Tensor], n: int) -> Iterator[None]:
    """``net``'s first ``n`` layers replaced by the student's outputs for as long as the block runs."""
    own = [net.model[i] for i in range(n)]
    for i in range(n):
        net.model[i] = _Replay(store, i)
    try:
        yield
    finally:
        for i, m in enumerate(own):
            net.model[i] = m


def _neck_channels(net: nn.Module) -> list[int]:
    """Input channels of each level of the head (the neck's outputs), read from its first box conv."""
    det = net.model[-1]
    return [int(seq[0].conv.in_channels) for seq in det.cv2]
