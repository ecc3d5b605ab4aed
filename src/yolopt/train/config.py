"""Training settings: one dataclass, checked before anything runs or is written."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import YoloptError

PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("auto", "sgd", "adamw")


class TrainConfigError(YoloptError):
    """A training setting that cannot work; raised before training starts."""


@dataclass
class TrainConfig:
    """Everything ``yolopt train`` takes (YOLOv8's defaults where it has them)."""

    data: str = ""
    model: str = "yolov8n"
    nc: int | None = None  # with a scale name: build a fresh, randomly initialised network with this many classes
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    workers: int = 2
    threads: int | None = None  # torch intra-op threads on CPU (default: torch's; fewer when workers share the cores)
    optimizer: str = "auto"
    lr0: float = 0.01
    lrf: float = 0.01
    momentum: float = 0.937
    weight_decay: float = 5e-4
    warmup_epochs: float = 3.0
    warmup_bias_lr: float = 0.1
    warmup_momentum: float = 0.8
    cos_lr: bool = False
    nbs: int = 64
    clip: float = 10.0
    freeze: int = 0
    precision: str = "fp32"
    device: str = "auto"
    devices: int = 1
    sync_bn: bool = False
    # BatchNorm uses (and keeps) its running statistics; its affine weights still train. None: frozen when fine-tuning
    # loaded weights (their statistics come from far more data than a fine-tune sees), trained from a fresh init
    freeze_bn: bool | None = None
    close_mosaic: int = 10
    augment: bool = True
    mosaic: bool = True
    cache: str | None = None
    val: bool = True
    val_data: str | None = None
    val_every: int = 1
    patience: int = 100
    project: str = "runs/train"
    name: str = "exp"
    exist_ok: bool = False
    seed: int = 0
    deterministic: bool = False
    shuffle: bool = True
    unfold_bn: bool = True
    max_bad_steps: int = 10
    profile: int = 0
    tensorboard: bool = False
    plots: bool = True
    teacher: str | None = None  # distil from this model (same classes); with a folder of images: label-free
    kd_cls: float = 1.0  # weights of the distillation terms (0 turns one off) and their temperature
    kd_dfl: float = 1.0
    kd_feature: float = 0.0
    kd_temperature: float = 1.0
    sparsity: float = 0.0  # L1 pull on BatchNorm scales (network slimming), before pruning with `bn` importance
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> "TrainConfig":
        """Normalise and reject impossible values with a message naming the setting."""
        errs = []
        if not self.data:
            errs.append("--data is required")
        elif not Path(self.data).exists():
            errs.append(f"--data {self.data}: no such file or folder")
        if self.val_data and not Path(self.val_data).exists():
            errs.append(f"--val-data {self.val_data}: no such file or folder")
        for k in ("epochs", "batch", "val_every", "nbs", "devices", "max_bad_steps"):
            if getattr(self, k) < 1:
                errs.append(f"--{k.replace('_', '-')} must be >= 1 (got {getattr(self, k)})")
        for k in ("workers", "freeze", "close_mosaic", "profile", "patience"):
            if getattr(self, k) < 0:
                errs.append(f"--{k.replace('_', '-')} must be >= 0 (got {getattr(self, k)})")
        if self.imgsz < 32 or self.imgsz % 32:
            errs.append(f"--imgsz {self.imgsz} must be a positive multiple of 32")
        self.precision = self.precision.lower()
        if self.precision not in PRECISIONS:
            errs.append(f"--precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.optimizer.lower() not in OPTIMIZERS:
            errs.append(f"--optimizer {self.optimizer!r}: expected SGD, AdamW or auto")
        if self.cache not in (None, "ram"):
            errs.append(f"--cache {self.cache!r}: only 'ram' is supported")
        if self.nc is not None and self.nc < 1:
            errs.append(f"--nc must be >= 1 (got {self.nc})")
        if not 0 < self.lr0 < 10 or not 0 < self.lrf <= 1:
            errs.append(f"--lr0 {self.lr0} / --lrf {self.lrf} out of range")
        if min(self.kd_cls, self.kd_dfl, self.kd_feature, self.sparsity) < 0 or self.kd_temperature <= 0:
            errs.append("--kd-cls/--kd-dfl/--kd-feature/--sparsity must be >= 0 and --kd-temperature > 0")
        if errs:
            raise TrainConfigError("; ".join(errs))
        return self

    @property
    def bn_frozen(self) -> bool:
        """Whether BatchNorm statistics stay fixed: ``freeze_bn``, or by default when starting from trained weights."""
        return self.freeze_bn if self.freeze_bn is not None else self.nc is None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
