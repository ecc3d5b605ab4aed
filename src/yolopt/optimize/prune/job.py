"""``yolopt prune`` as one library call: check inputs, prune, save the model, measure, write the report."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...model import save_yolopt
from .measure import PENDING_VARIANTS, RECOVERY_PENDING, Measure, Variant, measure
from .pruner import PruneResult, StepHook, load_detector, prune
from .report import save, with_ratios

NO_RECOVERY_NOTE = ("Pruned rows are before any recovery: fine-tuning (with and without a teacher) arrives with "
                    "`yolopt train`, and the pending rows are filled when it runs.")


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
              log: Callable[[str], None] = lambda s: None) -> PruneJob:
    """Prune ``model``, save ``out/pruned.safetensors``, measure original vs pruned, write ``out/report.*``."""
    from ...bench.runner import machine

    m.check()
    load_detector(model)  # a clear error before measuring anything
    res = prune(model, ratio=ratio, target_macs=target_macs, importance=importance, global_pruning=global_pruning,
                round_to=round_to, steps=steps, on_step=on_step, log=log)
    out = Path(out)
    path = save_yolopt(res.model, out / "pruned.safetensors", half=half)
    log(f"wrote {path}: {res.macs_fraction:.3f} of the MACs, {res.params[1] / res.params[0]:.3f} of the parameters")
    variants = [Variant("original", res.original), Variant("pruned (before fine-tuning)", res.model)]
    variants += [Variant(name, None, RECOVERY_PENDING) for name in PENDING_VARIANTS]
    measured = measured_with(m)
    rows = with_ratios(measure(variants, out / "measured", m, log))
    rep = {"original": str(model), "model": str(path), "machine": machine(), "settings": res.settings,
           "macs": {"before": res.macs[0], "after": res.macs[1]}, "macs_fraction": round(res.macs_fraction, 4),
           "params": {"before": res.params[0], "after": res.params[1]},
           "params_fraction": round(res.params[1] / res.params[0], 4), "measured": measured,
           "rows": rows, "notes": [NO_RECOVERY_NOTE], "channels": res.channels}
    return PruneJob(res, path, rep, save(rep, out))
