"""``yolopt train``: a thin shell over :func:`yolopt.train.train`."""

from __future__ import annotations

import logging
import sys
from typing import Optional

import typer


def train_command(
    data: Optional[str] = typer.Option(None, "--data", "-d", help="COCO dataset folder (images/ + "
                                       "annotations/instances_*.json) or YOLO data.yaml (with --resume: "
                                       "the run's own, this is ignored)."),
    model: str = typer.Option("yolov8n", "--model", "-m", help="Model name, Ultralytics .pt or yolopt .safetensors; "
                              "with --nc a scale name (yolov8n/s/m/l/x) builds a fresh random network."),
    nc: Optional[int] = typer.Option(None, "--nc", help="Classes of a fresh network (random init; must match --data)."),
    epochs: int = typer.Option(100, help="Epochs to train."),
    imgsz: int = typer.Option(640, help="Training image size (multiple of 32)."),
    batch: int = typer.Option(16, help="Images per batch on each device (gradients accumulate to --nbs)."),
    workers: int = typer.Option(2, help="DataLoader worker processes (decoding and augmentation)."),
    threads: Optional[int] = typer.Option(None, help="torch threads on CPU (default: torch's; on a small machine "
                                          "leave cores to --workers)."),
    optimizer: str = typer.Option("auto", help="SGD, AdamW or auto (AdamW with a fitted LR for short runs)."),
    lr0: float = typer.Option(0.01, "--lr0", help="Initial learning rate (SGD/AdamW; auto picks its own)."),
    lrf: float = typer.Option(0.01, "--lrf", help="Final LR as a fraction of lr0."),
    cos_lr: bool = typer.Option(False, "--cos-lr", help="Cosine instead of linear LR decay."),
    momentum: float = typer.Option(0.937, help="SGD momentum / Adam beta1."),
    weight_decay: float = typer.Option(5e-4, "--weight-decay", help="Weight decay (not on BatchNorm or biases)."),
    warmup_epochs: float = typer.Option(3.0, "--warmup-epochs", help="Warmup length in epochs (at least 100 steps)."),
    nbs: int = typer.Option(64, "--nbs", help="Nominal batch: gradients accumulate until about this many images."),
    clip: float = typer.Option(10.0, help="Gradient-norm clipping threshold."),
    freeze: int = typer.Option(0, help="Freeze the first N layers."),
    precision: str = typer.Option("fp32", help="fp32, bf16 (autocast; CPUs with BF16, or CUDA) or fp16 (CUDA, "
                                  "with a gradient scaler)."),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto."),
    devices: int = typer.Option(1, help="Processes for DistributedDataParallel (gloo on CPU, NCCL on CUDA)."),
    sync_bn: bool = typer.Option(False, "--sync-bn", help="SyncBatchNorm across devices (CUDA)."),
    freeze_bn: Optional[bool] = typer.Option(None, "--freeze-bn/--no-freeze-bn", help="BatchNorm keeps its running "
                                             "statistics (default: when fine-tuning loaded weights; not with --nc)."),
    close_mosaic: int = typer.Option(10, "--close-mosaic", help="No mosaic for the last N epochs."),
    augment: bool = typer.Option(True, "--augment/--no-augment", help="Training augmentation."),
    mosaic: bool = typer.Option(True, "--mosaic/--no-mosaic", help="Mosaic augmentation."),
    cache: Optional[str] = typer.Option(None, help="'ram': keep decoded, resized images in memory."),
    val: bool = typer.Option(True, "--val/--no-val", help="Validate (COCO mAP with yolopt's evaluator)."),
    val_data: Optional[str] = typer.Option(None, "--val-data", help="Validation dataset (default: --data's val split, "
                                           "or --data itself for a COCO folder)."),
    val_every: int = typer.Option(1, "--val-every", help="Validate every N epochs (and after the last)."),
    patience: int = typer.Option(100, help="Stop after N epochs without a better mAP50-95 (0: never)."),
    project: str = typer.Option("runs/train", help="Parent folder of runs."),
    name: str = typer.Option("exp", help="Run name (exp, exp2, ... when taken)."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="Reuse project/name."),
    seed: int = typer.Option(0, help="Random seed (data order, augmentation, init)."),
    deterministic: bool = typer.Option(False, "--deterministic", help="Deterministic algorithms (slower)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the run in this folder exactly."),
    max_bad_steps: int = typer.Option(10, "--max-bad-steps", help="Stop after N non-finite losses in a row."),
    profile: int = typer.Option(0, help="Profile N steps (where each step's time goes) instead of training."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="Also log to TensorBoard (yolopt[tensorboard])."),
    teacher: Optional[str] = typer.Option(None, "--teacher", help="Distil from this model (same class set): class-"
                                          "logit and box-distribution KD. With a --data folder of unlabeled images "
                                          "the teacher alone supervises (label-free)."),
    kd_cls: float = typer.Option(1.0, "--kd-cls", help="Weight of the class-logit distillation term."),
    kd_dfl: float = typer.Option(1.0, "--kd-dfl", help="Weight of the box-distribution (DFL) distillation term, on "
                                 "the anchors where the teacher is confident."),
    kd_feature: float = typer.Option(0.0, "--kd-feature", help="Weight of channel-wise feature distillation on the "
                                     "neck outputs through trained 1x1 adapters (0: off)."),
    kd_temperature: float = typer.Option(1.0, "--kd-temperature", help="Softening temperature of the logit terms."),
    sparsity: float = typer.Option(0.0, "--sparsity", help="L1 penalty on BatchNorm scales (network slimming) before "
                                   "pruning with --importance bn; bn_scales.png shows the histogram before/after."),
) -> None:
    """Train or fine-tune a YOLOv8 detector; writes runs/train/NAME/weights/{best,last}.safetensors.

    Exit status: 0 done; 2 bad input (nothing written) or training stopped on non-finite losses.
    """
    from . import train
    from .config import TrainConfigError

    if data is None and resume is None:
        raise TrainConfigError("give --data (a COCO folder, a YOLO data.yaml, or a folder of images with --teacher) "
                               "for a new run, or --resume RUN to continue one with its own settings")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    kw = dict(data=data, model=model, nc=nc, epochs=epochs, imgsz=imgsz, batch=batch, workers=workers, threads=threads,
              optimizer=optimizer, lr0=lr0, lrf=lrf, cos_lr=cos_lr, momentum=momentum, weight_decay=weight_decay,
              warmup_epochs=warmup_epochs, nbs=nbs, clip=clip, freeze=freeze, precision=precision, device=device,
              devices=devices, sync_bn=sync_bn, freeze_bn=freeze_bn, close_mosaic=close_mosaic, augment=augment, mosaic=mosaic, cache=cache,
              val=val, val_data=val_data, val_every=val_every, patience=patience, project=project, name=name,
              exist_ok=exist_ok, seed=seed, deterministic=deterministic, max_bad_steps=max_bad_steps, profile=profile, tensorboard=tensorboard,
              teacher=teacher, kd_cls=kd_cls, kd_dfl=kd_dfl, kd_feature=kd_feature, kd_temperature=kd_temperature,
              sparsity=sparsity)
    res = train(resume=resume, **kw) if resume else train(**kw)  # errors end in cli_guard's one error path
    if res.profile is not None:
        return
    best = f"best {res.best} (mAP50-95 {res.best_fitness:.4f}, epoch {res.best_epoch})" if res.best_fitness is not None \
        else f"best {res.best}"
    typer.echo(f"{res.epochs_run} epochs done{'; ' + res.stopped if res.stopped else ''}; {best}; last {res.last}")
