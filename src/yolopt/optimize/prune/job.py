"""``yolopt prune`` as one library call: check inputs, prune, save the model, measure, write the report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...model import save_yolopt
from .allocate import LEVELS
from .measure import PENDING_VARIANTS, RECOVERY_PENDING, Measure, Variant, measure
from .errors import PruneError
from .pruner import PruneResult, StepHook, load_detector, prune, stat_batches
from .recover import Recovery, finetune, step_hook, training_images
from .taylor import labelled_batches
from .report import save, with_ratios

NO_RECOVERY_NOTE = ("Pruned rows are before any recovery: give --data and --finetune-epochs (and --teacher) to "
                    "fine-tune, and the pending rows are filled.")
NO_STATS_NOTE = ("No images for pruning statistics (--data or --calib): removed channels' means were not folded "
                 "into their consumers, so the pruned model before fine-tuning is far from the original.")


@dataclass
class PruneJob:
    """What ``run_prune`` produced: the pruning result, the saved model, the report and its files."""

    result: PruneResult
    model_path: Path
    report: dict[str, Any]
    files: dict[str, Path]


def measured_with(m: Measure) -> str:
    """One sentence saying how the rows were measured, with the load average (the machine may be shared)."""
    parts = [f"runtimes {', '.join(m.runtimes)}, imgsz {m.imgsz}, load average {os.getloadavg()[0]:.1f} before"]
    if m.bench:
        parts.append(f"speed on {len(m.bench)} images (the engine's default batch and streams"
                     + (f", >= {m.seconds:g} s a run" if m.seconds else ", one pass a run")
                     + f"), best of {m.rounds} interleaved rounds")
    if m.val is not None:
        parts.append(f"mAP on {m.val}")
    if "openvino-int8" in m.runtimes:
        parts.append(f"INT8 calibrated on {m.calib}")
    return "Measured: " + "; ".join(parts) + "."


def run_prune(model: str | Path, out: str | Path, m: Measure, *, ratio: float | None = None,
              target_macs: float | None = None, importance: str = "l1", global_pruning: bool = False,
              round_to: int = 8, steps: int = 1, on_step: StepHook | None = None, half: bool = True,
              recovery: Recovery | None = None, stats: str | Path | None = None, sensitivity: bool = False,
              refit: bool = False, max_layer_ratio: float = LEVELS[-1],
              log: Callable[[str], None] = lambda s: None) -> PruneJob:
    """Prune ``model``, save ``out/pruned.safetensors``, fine-tune it (``recovery``: without and with the teacher,
    ``out/recovered.safetensors``), measure every variant, write ``out/report.*``.

    Images for the pruning statistics (BN unfolding, bias compensation, ``refit``, ``sensitivity``) come from ``recovery.data``, else
    ``stats`` (e.g. the calibration images); taylor importance needs labelled ``recovery.data``.
    """
    from ...bench.runner import machine

    m.check()
    original = load_detector(model)  # a clear error before measuring anything
    if recovery is not None:
        recovery.check(original.names)
    out = Path(out)
    source = recovery.data if recovery is not None else stats
    batches = stat_batches(training_images(source), m.imgsz) if source else None
    labelled = None
    if importance == "taylor":
        if recovery is None or recovery.label_free:
            raise PruneError("importance 'taylor' needs labelled training data (--data with labels)")
        labelled = labelled_batches(recovery.data, m.imgsz)
    teacher = None if recovery is None else recovery.teacher
    tuning: list[dict[str, Any]] = []
    if recovery is not None and steps > 1 and on_step is None:
        on_step = step_hook(recovery, out / "finetune", teacher, steps, tuning, original, log)
    res = prune(model, ratio=ratio, target_macs=target_macs, importance=importance, global_pruning=global_pruning,
                round_to=round_to, steps=steps, on_step=on_step, batches=batches, labelled=labelled, refit=refit,
                sensitivity=sensitivity, max_layer_ratio=max_layer_ratio, log=log)
    path = save_yolopt(res.model, out / "pruned.safetensors", half=half)
    log(f"wrote {path}: {res.macs_fraction:.3f} of the MACs, {res.params[1] / res.params[0]:.3f} of the parameters")
    variants = [Variant("original", res.original), Variant("pruned (before fine-tuning)", res.model)]
    notes = [] if batches else [NO_STATS_NOTE]
    recovered = None
    if recovery is None:
        variants += [Variant(name, None, RECOVERY_PENDING) for name in PENDING_VARIANTS]
        notes.append(NO_RECOVERY_NOTE)
    else:
        if recovery.label_free:
            variants.append(Variant(PENDING_VARIANTS[0], None, "label-free data: nothing but the teacher supervises"))
        else:
            plain, info = finetune(res.model, recovery, out / "finetune", "plain", None, recovery.epochs, log)
            variants.append(Variant(PENDING_VARIANTS[0], plain))
            tuning.append(info)
            recovered = plain
        if teacher:
            distilled, info = finetune(res.model, recovery, out / "finetune", "teacher", teacher, recovery.epochs, log)
            variants.append(Variant(PENDING_VARIANTS[1], distilled))
            tuning.append(info)
            recovered = distilled
        else:
            variants.append(Variant(PENDING_VARIANTS[1], None, "no --teacher given"))
        if "openvino-int8" not in m.runtimes:
            notes.append("INT8 rows: add openvino-int8 to --runtimes (with --calib) for the fine-tuned + INT8 rows.")
    notes += [f"{v.name}: {v.pending}." for v in variants if v.model is None and v.pending != RECOVERY_PENDING]
    rec_path = save_yolopt(recovered, out / "recovered.safetensors", half=half) if recovered is not None else None
    measured = measured_with(m)
    rows = with_ratios(measure(variants, out / "measured", m, log))
    rep = {"original": str(model), "model": str(path), "machine": machine(), "settings": res.settings,
           "macs": {"before": res.macs[0], "after": res.macs[1]}, "macs_fraction": round(res.macs_fraction, 4),
           "params": {"before": res.params[0], "after": res.params[1]},
           "params_fraction": round(res.params[1] / res.params[0], 4), "measured": measured,
           "rows": rows, "notes": notes, "channels": res.channels, "finetune": tuning,
           "recovered": None if rec_path is None else str(rec_path), "bn_scales": bn_scales(res)}
    return PruneJob(res, path, rep, save(rep, out))


def bn_scales(res: PruneResult) -> dict[str, Any]:
    """BN |scale| histograms: of the original, of the pruned model, and from sparsity training when it ran."""
    from ...train.sparsity import scale_histogram

    out = {"original": scale_histogram(res.original.net), "pruned": scale_histogram(res.model.net)}
    trained = (res.original.meta.get("train") or {}).get("bn_scales") or {}
    if (res.original.meta.get("train") or {}).get("sparsity"):
        out.update({f"sparsity training {k}": v for k, v in trained.items()})
    return out
