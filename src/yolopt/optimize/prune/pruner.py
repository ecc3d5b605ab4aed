"""Structured channel pruning of a YOLOv8 detector with Torch-Pruning's dependency graph.

Torch-Pruning cannot trace C2f's ``split`` (its shape inference fails), so every C2f's first 1x1 conv is first
replaced by two convs computing the same halves (:meth:`C2f.split_cv1`); the halves may then shrink apart. The
head's output convs (box distribution and class logits) and the DFL keep their outputs; everything else is
prunable, coupled where the graph says so (residual adds, concatenations).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ...model import YoloModel, load_model
from ...model.blocks import C2f
from ...model.head import Detect
from ...model.shapes import conv_channels
from ...model.yolo import YOLOv8
from ...optional import require
from ...train.bn_unfold import is_folded, unfold
from .allocate import LEVELS
from .compensate import compensate, following_bn, input_means
from .errors import PruneError
from .reconstruct import reconstruct
from .taylor import loss_gradients

IMPORTANCES = ("l1", "bn", "lamp", "taylor")
#: Side of the square image Torch-Pruning traces and counts MACs at; convolutions scale with the area, so the
#: count at 640 is this one times (640 / TRACE_SIZE) ** 2 (exactly: every layer is a conv, pool or upsample).
TRACE_SIZE = 160
GFLOPS_SIZE = 640
#: Images the sensitivity allocation measures each group's damage on (of the statistics images).
SENSITIVITY_IMAGES = 8

#: ``on_step(step, net)``: called after each of ``steps`` pruning steps (e.g. to fine-tune before the next one).
StepHook = Callable[[int, nn.Module], None]


@dataclass
class PruneResult:
    """The pruned model and what pruning changed: MACs and parameters at 640x640, channels per conv."""

    model: YoloModel
    original: YoloModel
    ratio: float
    macs: tuple[float, float]
    params: tuple[int, int]
    channels: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def macs_fraction(self) -> float:
        return self.macs[1] / self.macs[0]


def _importance(name: str) -> Any:
    import torch_pruning as tp

    table = {"l1": lambda: tp.importance.GroupMagnitudeImportance(p=1), "bn": tp.importance.BNScaleImportance,
             "lamp": lambda: tp.importance.LAMPImportance(p=2), "taylor": tp.importance.GroupTaylorImportance}
    if name not in table:
        raise PruneError(f"importance {name!r}: expected one of {', '.join(IMPORTANCES)}")
    return table[name]()


def _nearest(channels: int, round_to: int) -> int:
    """Round a channel count to the nearest multiple of ``round_to`` (halves round up)."""
    return int(math.floor(channels / round_to + 0.5)) * round_to


def kept_channels(channels: int, ratio: float, round_to: int) -> int:
    """Channels a per-layer ``ratio`` keeps of ``channels`` (Torch-Pruning's count, rounded to nearest)."""
    return min(channels, _nearest(int(channels * (1 - ratio)), round_to))


def _make_pruner(net: nn.Module, importance: str, ratio: float, global_pruning: bool, round_to: int,
                 steps: int, ratios: dict[str, float] | None = None) -> Any:
    """Torch-Pruning's pruner for ``net``; ``ratios`` (layer name -> ratio) overrides ``ratio`` per group."""
    import torch_pruning as tp

    class NearestPruner(tp.pruner.BasePruner):
        """Rounds kept channels to the nearest multiple (Torch-Pruning rounds down), never to zero."""

        def _round_to(self, n_pruned: int, current_channels: int, round_to: int) -> int:
            keep = max(round_to, _nearest(current_channels - n_pruned, round_to))
            return max(current_channels - keep, 0)

    det = net.model[-1]
    ignored = [m for i in range(det.nl) for m in (det.cv2[i][-1], det.cv3[i][-1])] + [det.dfl]
    mods = dict(net.named_modules())
    return NearestPruner(net, torch.zeros(1, 3, TRACE_SIZE, TRACE_SIZE), importance=_importance(importance),
                         global_pruning=global_pruning, pruning_ratio=ratio, iterative_steps=steps,
                         pruning_ratio_dict={mods[n]: r for n, r in (ratios or {}).items()},
                         ignored_layers=ignored, round_to=round_to)


def pruner_kept(channels: int, ratio: float, round_to: int) -> int:
    """Channels NearestPruner leaves of ``channels`` at ``ratio`` (at least one multiple of ``round_to``)."""
    return min(channels, max(round_to, _nearest(channels - int(channels * ratio), round_to)))


def count(net: nn.Module) -> tuple[float, int]:
    """(MACs at 640x640, parameters) of ``net``."""
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(net, torch.zeros(1, 3, TRACE_SIZE, TRACE_SIZE))
    return float(macs) * (GFLOPS_SIZE / TRACE_SIZE) ** 2, int(params)


def load_detector(model: str | Path | YoloModel) -> YoloModel:
    """The model to prune: a YOLOv8 detector with its PyTorch weights, else a :class:`PruneError`."""
    if isinstance(model, (str, Path)) and Path(str(model)).suffix in (".onnx", ".xml", ".engine", ".bin"):
        raise PruneError(f"model {model}: an exported graph cannot be pruned; give the PyTorch weights "
                         "(.pt, .safetensors or a model name)")
    try:
        m = load_model(model)
    except (ValueError, FileNotFoundError, OSError, pickle.UnpicklingError) as e:
        raise PruneError(f"model {model}: not a YOLOv8 detector yolopt can prune ({e})") from e
    if not isinstance(m.net, YOLOv8) or not isinstance(m.net.model[-1], Detect):
        raise PruneError(f"model {model}: not a YOLOv8 detector")
    return m


def splittable(net: nn.Module) -> nn.Module:
    """A float, eval-mode copy of ``net`` with every C2f's first conv split in two (the same function)."""
    net = copy.deepcopy(net).float().eval()
    if any(not hasattr(m, "bn") for m in net.modules() if m.__class__.__name__ == "Conv"):
        raise PruneError("the model's BatchNorms are fused into its convolutions; prune the unfused weights")
    for m in net.modules():
        if isinstance(m, C2f):
            m.split_cv1()
    return net


def _check_ratio(net: nn.Module, ratio: float, round_to: int, importance: str, global_pruning: bool) -> None:
    """Per-layer pruning must leave every layer a channel: name the first layer a ratio would empty."""
    if not 0 < ratio < 1:
        raise PruneError(f"--ratio {ratio}: expected a fraction of channels to remove, in (0, 1)")
    if global_pruning:
        return  # global ranking keeps at least round_to channels in every group (NearestPruner)
    for name, ch in group_widths(net, importance, round_to).items():
        if kept_channels(ch, ratio, round_to) < 1:
            raise PruneError(f"--ratio {ratio} would remove every channel of {name} ({ch} channels, rounded to "
                             f"multiples of {round_to}); the largest ratio this model allows is "
                             f"{max_ratio(net, importance, round_to):.3f}")


def group_widths(net: nn.Module, importance: str, round_to: int) -> dict[str, int]:
    """Output channels of the root layer of every prunable group, by layer name."""
    pruner = _make_pruner(net, importance, 0.0, False, round_to, 1)
    dg = pruner.DG
    out = {}
    for group in dg.get_all_groups(ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types):
        mod = group[0][0].target.module
        out[dg._module2name.get(mod, str(mod))] = int(dg.get_out_channels(mod))
    return out


def max_ratio(net: nn.Module, importance: str, round_to: int) -> float:
    """The largest per-layer ratio (to 0.001) that leaves every group at least one multiple of ``round_to``."""
    narrowest = min(group_widths(net, importance, round_to).values())
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-3:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if kept_channels(narrowest, mid, round_to) >= 1 else (lo, mid)
    return round(lo, 3)


def _pruned_copy(net: nn.Module, ratio: float, importance: str, global_pruning: bool, round_to: int,
                 ratios: dict[str, float] | None = None) -> nn.Module:
    trial = copy.deepcopy(net)
    for t, p in zip(trial.parameters(), net.parameters()):  # taylor importance reads the gradients
        t.grad = None if p.grad is None else p.grad.clone()
    _make_pruner(trial, importance, ratio, global_pruning, round_to, 1, ratios).step()
    return trial


def ratio_for_macs(net: nn.Module, target: float, importance: str, global_pruning: bool, round_to: int,
                   log: Callable[[str], None] = lambda s: None, memo: dict[float, float] | None = None) -> float:
    """The smallest pruning ratio (to 0.005) whose pruned network has at most ``target`` x the MACs of ``net``.

    MACs fall about as (1 - ratio)², so the search starts at 1 - sqrt(target), brackets the target in 0.02
    steps and bisects the bracket: a handful of trial prunings. ``memo`` (ratio → MACs fraction) lets several
    targets share trials.
    """
    if not 0 < target < 1:
        raise PruneError(f"--target-macs {target}: expected a fraction of the model's MACs to keep, in (0, 1)")
    memo = {} if memo is None else memo
    base = count(net)[0]

    def frac(r: float) -> float:
        r = round(r, 4)
        if r not in memo:
            memo[r] = count(_pruned_copy(net, r, importance, global_pruning, round_to))[0] / base
            log(f"  ratio {r:.3f}: {memo[r]:.3f} of the MACs")
        return memo[r]

    top = 0.95 if global_pruning else max_ratio(net, importance, round_to)
    if frac(top) > target:
        raise PruneError(f"--target-macs {target} cannot be reached: at ratio {top} (the most before a layer loses "
                         f"every channel, rounded to {round_to}) the model keeps {frac(top):.3f} of its MACs")
    lo, hi = 0.0, top
    r = min(max(1 - math.sqrt(target), 0.005), top)
    while lo < r < hi:  # walk from the guess until the target is bracketed
        if frac(r) > target:
            lo, r = r, min(r + 0.02, hi)
        else:
            hi, r = r, max(r - 0.02, lo)
    while hi - lo > 0.005:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if frac(mid) > target else (lo, mid)
    return round(hi, 4)


def stat_batches(images: str | Path | list, imgsz: int = 640, limit: int = 32) -> list[torch.Tensor]:
    """Up to ``limit`` images as float (1, 3, H, W) letterboxed tensors: the statistics pruning measures on."""
    from ..calibration import image_list, spread
    from ..errors import QuantizeError
    from ...data.inputs import load_input

    try:
        paths = spread(image_list(images), limit)
    except QuantizeError as e:
        raise PruneError(str(e)) from e
    if not paths:
        raise PruneError(f"images {images}: none found")
    return [torch.from_numpy(load_input(p, imgsz).chw[None]).float() / 255 for p in paths]


def channel_table(before: nn.Module, after: nn.Module) -> list[dict[str, Any]]:
    """Per conv: output channels before and after (``before``: the split, unpruned network)."""
    a = conv_channels(after)
    return [{"layer": k, "before": v[0], "after": a[k][0], "in_before": v[1], "in_after": a[k][1]}
            for k, v in conv_channels(before).items()]


def sensitivity_ratios(net: nn.Module, target: float, importance: str, round_to: int, batches: list[torch.Tensor],
                       log: Callable[[str], None] = lambda s: None, memo: dict[Any, Any] | None = None,
                       max_ratio: float = LEVELS[-1]) -> dict[str, float]:
    """Per-group ratios (layer name -> ratio, none above ``max_ratio``) that reach ``target`` x the MACs with the
    least measured damage.

    ``memo``: measurements kept for another target on the same model and images (a sweep measures each group's
    damage once)."""
    from .allocate import allocate, sensitivities

    memo = {} if memo is None else memo
    base = count(net)[0]
    names = {m: n for n, m in net.named_modules()}
    key = ("sensitivities", importance, round_to)
    if key in memo:
        log("  sensitivity: measured for an earlier target, reused")
    else:
        probe = _make_pruner(net, importance, 0.0, False, round_to, 1)
        memo[key] = [dataclasses.replace(o, root=names[o.root]) for o in
                     sensitivities(probe, net, batches[:SENSITIVITY_IMAGES], lambda c, r: pruner_kept(c, r, round_to),
                                   TRACE_SIZE, log=log)]

    def frac(ratios: dict[str, float]) -> float:
        trial = ("macs", importance, round_to, tuple(sorted(ratios.items())))
        if trial not in memo:
            memo[trial] = count(_pruned_copy(net, 0.0, importance, False, round_to, ratios))[0] / base
        return memo[trial]

    try:
        return allocate(memo[key], target, frac, log, max_ratio)
    except ValueError as e:
        raise PruneError(f"--target-macs {target}: {e}") from e


def scope_name(sensitivity: bool, global_pruning: bool) -> str:
    """How the channels to remove were spread over the layers, as the reports name it."""
    return "sensitivity" if sensitivity else "global" if global_pruning else "per-layer"


def track_kept(group: Any, names: dict[nn.Module, str], kept: dict[str, torch.Tensor]) -> None:
    """Before ``group.prune()``: drop the group's removed output channels from ``kept`` (original indices)."""
    for dep, idxs in group:
        conv = dep.target.module
        if isinstance(conv, nn.Conv2d) and dep.handler.__name__ == "prune_out_channels":
            cur = kept.get(names[conv], torch.arange(conv.out_channels))
            mask = torch.ones(len(cur), dtype=torch.bool)
            mask[torch.as_tensor(sorted({int(i) for i in idxs}), dtype=torch.long)] = False
            kept[names[conv]] = cur[mask]


def prune(model: str | Path | YoloModel, *, ratio: float | None = None, target_macs: float | None = None,
          importance: str = "l1", global_pruning: bool = False, round_to: int = 8, steps: int = 1,
          on_step: StepHook | None = None, batches: list[torch.Tensor] | None = None,
          labelled: list[tuple[torch.Tensor, torch.Tensor]] | None = None, refit: bool = False,
          sensitivity: bool = False, max_layer_ratio: float = LEVELS[-1], log: Callable[[str], None] = lambda s: None,
          memo: dict[Any, Any] | None = None) -> PruneResult:
    """Prune a YOLOv8 detector by a channel ``ratio`` or down to ``target_macs`` x its MACs; returns the result.

    ``steps`` > 1 prunes in that many equal steps, importance re-estimated at each one; ``on_step(step, net)``
    runs after each step (the place for recovery fine-tuning). ``batches`` (float images in 0..1, e.g.
    :func:`stat_batches`) unfold folded BatchNorm first (so ``bn`` importance sees real scales) and let every
    removed channel's mean be folded into its consumers (:mod:`.compensate`); with ``refit`` every conv is then
    re-fitted to the original's outputs on them (:mod:`.reconstruct`), and ``sensitivity`` gives each layer the
    ratio its measured damage per MAC saved earns (:mod:`.allocate`; ``target_macs`` only; none above
    ``max_layer_ratio``). ``labelled`` (image, targets)
    batches give ``taylor`` importance its loss gradients (:func:`.taylor.labelled_batches`), re-measured at
    every step. ``memo``: one dict passed to every call on the same model and ``batches`` (a sweep) keeps the
    sensitivity measurements between them. All checks run before any pruning.
    """
    require("torch_pruning", "yolopt[prune]", "channel pruning")
    if (ratio is None) == (target_macs is None):
        raise PruneError("give exactly one of --ratio (channels to remove) or --target-macs (MACs to keep)")
    if round_to < 1 or steps < 1:
        raise PruneError(f"--round-to {round_to} and --steps {steps} must be positive integers")
    _importance(importance)
    if importance == "taylor" and not labelled:
        raise PruneError("importance 'taylor' needs labelled training images (--data): it ranks channels by the "
                         "detection loss's gradient")
    original = load_detector(model)
    net = splittable(original.net)
    if batches and is_folded(net):
        n = unfold(net, batches, per_batch=False)  # one image a batch: pool them, the network's own statistics
        log(f"unfolded {n} folded BatchNorm layers (statistics of {len(batches)} images)")
    elif importance == "bn" and is_folded(net):
        raise PruneError("importance 'bn' on a model with folded BatchNorm (every scale 1) ranks nothing: give "
                         "images to unfold it (--data or --calib), or use l1/lamp")
    if sensitivity and (target_macs is None or not batches or global_pruning):
        raise PruneError("sensitivity allocation needs --target-macs (not --ratio), images (--data or --calib) to "
                         "measure damage on, and per-layer scope (not --global)")
    if sensitivity and not LEVELS[0] <= max_layer_ratio <= LEVELS[-1]:
        raise PruneError(f"--max-layer-ratio {max_layer_ratio}: the allocation tries {LEVELS[0]} ... {LEVELS[-1]} "
                         "of a layer's channels; give a fraction in that range")
    if importance == "taylor":
        log(f"taylor: detection loss {loss_gradients(net, labelled, original.spec.nc):.3f} on {len(labelled)} batches")
    ratios = None
    if ratio is not None:
        _check_ratio(net, ratio, round_to, importance, global_pruning)
    elif sensitivity:
        log(f"allocating {target_macs} of the MACs by each layer's measured sensitivity ...")
        ratios = sensitivity_ratios(net, target_macs, importance, round_to, batches, log,  # type: ignore[arg-type]
                                    memo, max_layer_ratio)
        ratio = 0.0
    else:
        log(f"searching the ratio that keeps {target_macs} of the MACs ...")
        ratio = ratio_for_macs(net, target_macs, importance, global_pruning, round_to, log)  # type: ignore[arg-type]
    before = copy.deepcopy(net)
    macs0, params0 = count(net)
    pruner = _make_pruner(net, importance, ratio, global_pruning, round_to, steps, ratios)
    bns = following_bn(net)
    names = {m: n for n, m in net.named_modules()}
    kept: dict[str, torch.Tensor] = {}
    for k in range(1, steps + 1):
        means = input_means(net, batches) if batches else None
        if importance == "taylor" and k > 1:
            loss_gradients(net, labelled, original.spec.nc)  # the previous step (and its fine-tuning) moved them
        for group in pruner.step(interactive=True):
            if means is not None:
                compensate(group, means, bns)
            track_kept(group, names, kept)
            group.prune()
        if refit and batches:
            n = reconstruct(net, before, kept, batches, log=log)
            log(f"step {k}/{steps}: re-fitted {n} convs to the original's outputs")
        log(f"step {k}/{steps}: {count(net)[0] / macs0:.3f} of the MACs")
        if on_step is not None:
            on_step(k, net)
    net.eval().zero_grad(set_to_none=True)
    macs1, params1 = count(net)
    table = channel_table(before, net)
    if ratios:  # one ratio per group: report the fraction of all channels removed
        ratio = round(1 - sum(r["after"] for r in table) / sum(r["before"] for r in table), 4)
    settings = {"ratio": ratio, "target_macs": target_macs, "importance": importance,
                "scope": scope_name(sensitivity, global_pruning),
                "round_to": round_to, "steps": steps, "refit": bool(refit and batches)}
    if ratios:
        settings.update(max_layer_ratio=max_layer_ratio, ratios=ratios)
    meta = {**original.meta, "pruned": {**settings, "macs_fraction": round(macs1 / macs0, 4)}}
    pruned = YoloModel(net, dict(original.names), original.imgsz, meta)
    return PruneResult(pruned, original, ratio, (macs0, macs1), (params0, params1), table, settings)
