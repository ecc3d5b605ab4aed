"""Pruning levels as an axis of the search: ``--prune 0.8,0.7`` prunes the model to each fraction of its MACs,
recovers it for a bounded budget and searches the result like a ``--pruned`` file.

Each level is ``yolopt prune``'s sensitivity allocation (per-layer ratios from the damage measured per MAC saved,
on statistics images of ``--prune-data``) followed by ``--prune-epochs`` of fine-tuning through ``yolopt train``
(distilled from the teacher, by default the unpruned model: on a folder of unlabelled images the teacher alone
supervises). The result is a yolopt model file kept in ``cache_dir()/optimize/pruned/`` under a digest of the
weights, the level, the data and every recovery setting, with ``pruning.json`` beside it saying how it was made:
a re-run finds it and neither prunes nor trains again.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .cache import digest, files_digest
from .space import SearchError

if TYPE_CHECKING:
    from ...model import YoloModel
    from ..prune.recover import Recovery
    from .strategy import Clock

#: How every level is pruned (``yolopt prune --target-macs L --sensitivity`` with its defaults).
IMPORTANCE = "l1"
ROUND_TO = 8
#: The name of the provenance file kept beside each pruned model in the cache.
PROVENANCE = "pruning.json"


@dataclass(frozen=True)
class PruneLevels:
    """MACs ``levels`` to prune to; statistics and recovery data ``data``; ``epochs`` of fine-tuning (0: none),
    distilled from ``teacher`` ("auto": the unpruned model; None: labels only) at ``imgsz``, ``batch``."""

    levels: tuple[float, ...]
    data: str | None
    epochs: int = 1
    teacher: str | None = "auto"
    imgsz: int = 640
    batch: int = 16
    workers: int = 2

    def check(self, model: YoloModel, val_paths: list[Path]) -> None:
        """Bad input, found before any work: a level outside (0, 1), missing or unreadable data, unlabelled data
        with no teacher, a teacher with other classes, data that holds validation images, bad training settings."""
        from ...train.config import TrainConfig, TrainConfigError
        from ..calibration import overlap
        from ..prune import PruneError
        from ..prune.recover import training_images

        bad = [lv for lv in self.levels if not 0 < lv < 1]
        if not self.levels or bad:
            raise SearchError(f"--prune {','.join(f'{lv:g}' for lv in self.levels)}: every level must be a "
                              "fraction of the MACs in (0, 1)")
        if not self.data:
            raise SearchError("--prune needs --prune-data: images (a labelled dataset, or with a teacher a folder "
                              "of unlabelled images) to measure each layer's sensitivity and fine-tune on")
        if not Path(self.data).exists():
            raise SearchError(f"--prune-data {self.data}: no such file or folder")
        if self.epochs < 0:
            raise SearchError(f"--prune-epochs {self.epochs}: expected 0 (no recovery) or more")
        try:
            images = training_images(self.data, limit=0)  # all of them
        except PruneError as e:
            raise SearchError(f"--prune-data {e}") from None
        if not images:
            raise SearchError(f"--prune-data {self.data}: no images")
        both = overlap(images, val_paths)
        if both:
            raise SearchError(f"--prune-data {self.data}: {len(both)} of its images are --val images (e.g. "
                              f"{both[0].name}); pruning or fine-tuning on them would make the accuracy budget "
                              "meaningless")
        if self.epochs == 0:
            return
        if self.label_free and not self.teacher:
            raise SearchError(f"--prune-data {self.data} is a folder of unlabelled images: fine-tuning on it needs "
                              "a teacher (--prune-teacher auto, the default)")
        if self.teacher and self.teacher != "auto":
            from ...train.teacher import check_classes, load_model_checked

            try:
                check_classes(load_model_checked(self.teacher, "--prune-teacher"), model.names, self.teacher,
                              "--model", "--prune-teacher")
            except TrainConfigError as e:
                raise SearchError(str(e)) from None
        try:
            TrainConfig.from_dict(self.recovery("x").train_kw("x", "x", None)).check()
        except TrainConfigError as e:
            raise SearchError(f"--prune-epochs/--prune-imgsz/--prune-batch: {e}") from None

    @property
    def label_free(self) -> bool:
        from ...train.dataset import is_image_folder

        return self.data is not None and is_image_folder(self.data)

    def teacher_of(self, model_arg: str) -> str | None:
        """The teacher fine-tuning distils from: the model given for "auto"; none without fine-tuning."""
        if not self.epochs or not self.teacher:
            return None
        return model_arg if self.teacher == "auto" else self.teacher

    def recovery(self, model_arg: str) -> Recovery:
        from ..prune.recover import Recovery

        return Recovery(str(self.data), max(self.epochs, 1), self.teacher_of(model_arg), 0, self.imgsz, self.batch,
                        {"workers": self.workers})

    def budget(self, model_arg: str) -> str:
        """The recovery budget in words (the report's and the progress lines')."""
        if not self.epochs:
            return "no recovery fine-tuning"
        teacher = self.teacher_of(model_arg)
        return (f"{self.epochs} epoch{'s' if self.epochs > 1 else ''} of fine-tuning on {self.data} at {self.imgsz}"
                + (f", distilled from {teacher}" if teacher else "") + (" (label-free)" if self.label_free else ""))

    def key(self, weights: str, level: float, model_arg: str) -> str:
        """What a pruned model depends on: the weights, the level, how it is pruned and every recovery setting."""
        from ... import __version__
        from ...backends.auto import _version

        teacher = self.teacher_of(model_arg)
        parts = {"weights": weights, "level": level, "importance": IMPORTANCE, "round_to": ROUND_TO,
                 "allocation": "sensitivity", "data": data_digest(Path(str(self.data))), "epochs": self.epochs,
                 "teacher": None if teacher is None else weights if self.teacher == "auto" else _weights(teacher),
                 "imgsz": self.imgsz, "batch": self.batch, "yolopt": __version__,
                 "torch_pruning": _version("torch_pruning")}
        if self.epochs:
            kw = self.recovery(model_arg).train_kw("model", "project", None)
            parts["train"] = {k: v for k, v in kw.items() if k not in ("data", "model", "project", "teacher",
                                                                       "workers")}
        return digest(json.dumps(parts, sort_keys=True))

    def make(self, model: YoloModel, model_arg: str, weights: str, root: Path, clock: Clock,
             say: Callable[[str], None]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Each level's pruned (and recovered) model file, made now unless the cache has it: {path: provenance};
        and why the levels left out were (not started when the time budget was spent, or failed)."""
        out: dict[str, dict[str, Any]] = {}
        missed: list[str] = []
        batches, allocation = None, {}  # the statistics images and the sensitivities: measured once for all levels
        for level in self.levels:
            folder = root / "pruned" / f"yolov8{model.spec.scale}-macs{level:g}-{self.epochs}ep-" \
                f"{self.key(weights, level, model_arg)}"
            path = folder / "model.safetensors"
            if path.is_file():
                out[str(path)] = json.loads((folder / PROVENANCE).read_text())
                say(f"[{clock.stamp()}] pruned to {level:g} of the MACs with {self.budget(model_arg)}: from the "
                    f"cache ({path})")
                continue
            if clock.out():
                missed.append(f"pruning to {level:g} of the MACs: not started, time budget spent")
                say(f"[{clock.stamp()}] {missed[-1]}")
                continue
            if batches is None:
                from ..prune.pruner import stat_batches
                from ..prune.recover import training_images

                batches = stat_batches(training_images(str(self.data)), self.imgsz)
            try:
                out[str(path)] = self._make(model, model_arg, level, batches, allocation, folder, path.name, clock,
                                            say)
            except Exception as e:  # noqa: BLE001 - one level that cannot be made is said, the search goes on
                missed.append(f"pruning to {level:g} of the MACs failed: {type(e).__name__}: {e}")
                say(f"[{clock.stamp()}] {missed[-1]}")
        return out, missed

    def _make(self, model: YoloModel, model_arg: str, level: float, batches: list, allocation: dict, folder: Path,
              name: str, clock: Clock, say: Callable[[str], None]) -> dict[str, Any]:
        from ...export.cache import building
        from ...model import save_yolopt
        from ..prune import prune
        from ..prune.recover import finetune

        def log(s: str) -> None:
            say(f"[{clock.stamp()}]   {s.strip()}")

        say(f"[{clock.stamp()}] pruning to {level:g} of the MACs (sensitivity allocation on {len(batches)} images "
            f"of {self.data}; once, kept in {folder}) ...")
        t0 = time.perf_counter()
        res = prune(model, target_macs=level, importance=IMPORTANCE, round_to=ROUND_TO, batches=batches,
                    sensitivity=True, log=log, memo=allocation)
        pruned, seconds = res.model, time.perf_counter() - t0
        info: dict[str, Any] = {
            "level": level, "macs_kept": round(res.macs_fraction, 4),
            "params_kept": round(res.params[1] / res.params[0], 4), "allocation": "sensitivity",
            "importance": IMPORTANCE, "round_to": ROUND_TO, "statistics": f"{len(batches)} images of {self.data}",
            "prune_seconds": round(seconds, 1), "recovery": self.budget(model_arg), "epochs": self.epochs,
            "data": str(self.data), "teacher": self.teacher_of(model_arg), "label_free": self.label_free,
            "imgsz": self.imgsz, "batch": self.batch}
        with building(folder) as tmp:
            if self.epochs:
                pruned, ft = finetune(pruned, self.recovery(model_arg), tmp / "finetune", f"macs{level:g}",
                                      self.teacher_of(model_arg), self.epochs, log)
                info["finetune_seconds"] = ft["seconds"]
                shutil.rmtree(tmp / "finetune")  # the training run (optimizer state, checkpoints): not needed
            save_yolopt(pruned, tmp / name, half=False)
            (tmp / PROVENANCE).write_text(json.dumps(info, indent=1) + "\n")
        say(f"[{clock.stamp()}] pruned to {info['macs_kept']:.3f} of the MACs with {info['recovery']} in "
            f"{time.perf_counter() - t0:.0f} s")
        return info


def data_digest(data: Path) -> str:
    """The data's files (name, size, time): a folder's whole tree; a data.yaml or JSON with its folder's."""
    folder = data if data.is_dir() else data.parent
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return files_digest(files if data.is_dir() else [data, *files])


def _weights(model: str) -> str:
    from ...export.cache import weights_digest
    from ...model import load_model

    return weights_digest(load_model(model))


def describe(info: dict[str, Any] | None) -> str:
    """How a pruned variant was made, in one line (the candidates table's ``pruning`` column)."""
    if not info:
        return ""
    if "level" not in info:
        return f"given file ({info['macs_kept']:.3f} of the MACs)" if info.get("macs_kept") else "given file"
    return f"MACs {info['level']:g} (kept {info['macs_kept']:.3f}), sensitivity {info['importance']}; " \
        f"{info['recovery']}"
