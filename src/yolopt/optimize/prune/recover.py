"""Recovery fine-tuning of a pruned model through ``yolopt train``: between pruning steps and after the last one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ...model import YoloModel, load_model, save_yolopt
from .errors import PruneError


@dataclass
class Recovery:
    """How to fine-tune: training ``data`` (labelled, or a folder of images with a teacher: label-free),
    ``epochs`` after pruning (and ``step_epochs`` between ``--steps``), the ``teacher`` (a path, or None)."""

    data: str
    epochs: int
    teacher: str | None = None
    step_epochs: int = 1
    imgsz: int = 640
    batch: int = 16
    settings: dict[str, Any] = field(default_factory=dict)  # more TrainConfig fields (lr0, workers, threads...)

    def check(self, names: dict[int, str]) -> None:
        """Bad recovery input, found before any pruning: missing data or teacher, a label-free run with no teacher,
        a teacher whose classes are not the model's ``names``."""
        from ...train.config import TrainConfig, TrainConfigError
        from ...train.dataset import is_image_folder

        if self.epochs < 1 or self.step_epochs < 0:
            raise PruneError(f"--finetune-epochs {self.epochs} must be >= 1 (and --step-epochs >= 0)")
        if not Path(self.data).exists():
            raise PruneError(f"--data {self.data}: no such file or folder")
        if is_image_folder(self.data) and not self.teacher:
            raise PruneError(f"--data {self.data} is a folder of unlabeled images: fine-tuning on it needs --teacher")
        try:
            TrainConfig.from_dict(self.train_kw("check", "x", None)).check()
        except TrainConfigError as e:
            raise PruneError(str(e)) from e
        if self.teacher:
            from ...train.teacher import check_classes, load_model_checked

            try:
                check_classes(load_model_checked(self.teacher), names, self.teacher, "the pruned model")
            except TrainConfigError as e:
                raise PruneError(str(e)) from e

    def train_kw(self, model: str, project: str, teacher: str | None) -> dict[str, Any]:
        """Training settings: a fine-tune of a few epochs steps at every batch (no accumulation to 64 images),
        without warmup (the weights are trained; warmup's 100-step minimum would be the whole run), and with
        BatchNorm statistics that follow the data (pruning changed every layer's inputs)."""
        return {"data": self.data, "model": model, "imgsz": self.imgsz, "batch": self.batch, "nbs": self.batch,
                "warmup_epochs": 0.0, "freeze_bn": False, "close_mosaic": max(1, self.epochs // 3), "val": False, "plots": False,
                "project": project, "exist_ok": True, "teacher": teacher, **self.settings}

    @property
    def label_free(self) -> bool:
        from ...train.dataset import is_image_folder

        return is_image_folder(self.data)


def training_images(data: str | Path, limit: int = 32) -> list[Path]:
    """Up to ``limit`` images of a labelled dataset, or of a folder / glob / list of images, evenly spread."""
    from ...train.dataset import DatasetError, is_image_folder, load_records
    from ..calibration import image_list, spread
    from ..errors import QuantizeError

    p = Path(data)
    dataset = (p.is_dir() and not is_image_folder(p)) or p.suffix.lower() in (".yaml", ".yml", ".json")
    try:
        paths = load_records(data).paths if dataset else image_list(data)
    except (DatasetError, QuantizeError) as e:
        raise PruneError(f"images {data}: {e}") from e
    return spread(paths, limit)


def finetune(model: YoloModel, rec: Recovery, folder: Path, name: str, teacher: str | None, epochs: int,
             log: Callable[[str], None] = lambda s: None) -> tuple[YoloModel, dict[str, Any]]:
    """Train ``model`` for ``epochs`` on ``rec.data`` (distilled from ``teacher`` when given) in ``folder/name``."""
    import time

    from ...train import train

    folder.mkdir(parents=True, exist_ok=True)
    start = save_yolopt(model, folder / f"{name}-start.safetensors", half=False)
    log(f"fine-tuning '{name}': {epochs} epochs on {rec.data}" + (f", teacher {teacher}" if teacher else "")
        + (" (label-free)" if rec.label_free else "") + " ...")
    t0 = time.perf_counter()
    logging.getLogger("yolopt.train").setLevel(logging.INFO)
    res = train(**{**rec.train_kw(str(start), str(folder), teacher), "epochs": epochs, "name": name})
    tuned = load_model(res.last)
    info = {"name": name, "epochs": epochs, "teacher": teacher, "data": rec.data, "label_free": rec.label_free,
            "imgsz": rec.imgsz, "seconds": round(time.perf_counter() - t0, 1), "run": str(res.save_dir),
            "last_losses": {k: v for k, v in res.rows[-1].items() if k.endswith("_loss") or k.startswith("kd_")}}
    log(f"  '{name}' done in {info['seconds']:.0f} s")
    return tuned, info


def step_hook(rec: Recovery, folder: Path, teacher: str | None, steps: int, records: list[dict[str, Any]],
              original: YoloModel, log: Callable[[str], None]) -> Callable[[int, nn.Module], None]:
    """``on_step`` for :func:`prune`: fine-tune the partly pruned network in place between steps (not after the last)."""

    def hook(k: int, net: nn.Module) -> None:
        if k == steps or rec.step_epochs == 0:
            return
        current = YoloModel(net, dict(original.names), original.imgsz, dict(original.meta))
        tuned, info = finetune(current, rec, folder, f"step{k}", teacher, rec.step_epochs, log)
        with torch.no_grad():
            net.load_state_dict(tuned.net.state_dict())
        records.append(info)

    return hook
