"""The training loop: model set-up, epochs of forward/loss/backward/step, EMA, validation, checkpoints and logs."""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..bench.monitor import rss_bytes
from ..errors import YoloptError
from ..model import SCALES, YoloModel
from ..model.adapt import fresh, with_classes
from ..model.shapes import apply_channels, conv_channels
from ..model.yolo import YOLOv8
from . import checkpoint, results
from ..optimize.distill import DistillWeights
from .bn_unfold import batchnorms, is_folded, unfold
from .config import TrainConfig, TrainConfigError
from .ema import ModelEMA, unwrap
from .loss import DetectionLoss
from .optim import Schedule, auto_optimizer, build_optimizer, freeze
from .dataset import is_image_folder
from .profiler import StepTimer
from .sparsity import add_l1_grad, plot_histograms, scale_histogram
from .teacher import KD_ITEMS, Distiller, check_classes, class_list, load_model_checked, load_named

log = logging.getLogger("yolopt.train")


class TrainingDiverged(YoloptError):
    """Too many non-finite losses in a row; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    """Where a run wrote its files and how it ended."""

    save_dir: Path
    best: Path | None
    last: Path | None
    best_fitness: float | None
    best_epoch: int | None
    epochs_run: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped_steps: int = 0
    stopped: str | None = None
    profile: dict[str, Any] | None = None


def resolve_model(cfg: TrainConfig, names: dict[int, str]) -> tuple[YoloModel, list[str]]:
    """The starting model for a dataset with ``names``, and notes on what was changed to fit it.

    ``--nc`` with a scale name (``yolov8n``) builds a fresh random network; otherwise a name, ``.pt`` or
    ``.safetensors`` loads weights, and a different class count re-initialises the class branch.
    """
    key = str(cfg.model)
    scale = key[len("yolov8"):] if key.startswith("yolov8") else None
    if cfg.nc is not None:
        if scale not in SCALES or Path(key).exists():
            raise TrainConfigError(f"--nc builds a fresh network and needs a scale name (yolov8n/s/m/l/x), got {key!r}")
        if cfg.nc != len(names):
            raise TrainConfigError(f"--nc {cfg.nc} but the dataset has {len(names)} classes")
        return fresh(scale, names, cfg.imgsz), [f"YOLOv8{scale} with {len(names)} classes, random initialisation"]
    model = load_named(key, "--model")
    old_nc = model.spec.nc
    model, reinit = with_classes(model, names)
    notes = [f"loaded {key} (YOLOv8{model.spec.scale}, {old_nc} classes)"]
    if reinit:
        notes.append(f"the dataset has {len(names)} classes, the model {old_nc}: re-initialised the class branch "
                     f"layers {', '.join(reinit)}")
    return model, notes


def _student_names(cfg: TrainConfig) -> dict[int, str]:
    """The class names of the model ``cfg`` starts from (before any re-heading to the data)."""
    return load_named(cfg.model, "--model").names


def clean_copy(net: nn.Module, model: YoloModel) -> YoloModel:
    """A plain YOLOv8 (no DDP/SyncBN wrappers) with ``net``'s weights, in eval mode, for saving and validating."""
    out = YOLOv8(model.spec)
    apply_channels(out, conv_channels(unwrap(net)))  # a pruned network keeps its own widths
    out.load_state_dict({k: v.detach().float() if v.is_floating_point() else v
                         for k, v in unwrap(net).state_dict().items()})
    return YoloModel(out.eval(), model.names, model.imgsz, dict(model.meta))


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc keeps it otherwise, and RSS creeps up)."""
    import gc

    from ..engine.memory import trim

    gc.collect()
    trim()


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainConfigError(f"--device {name}: CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def run_dir(cfg: TrainConfig) -> Path:
    """``project/name``, or ``name2``, ``name3``... when it exists and --exist-ok is not set."""
    base = Path(cfg.project) / cfg.name
    if cfg.exist_ok or not base.exists():
        return base
    n = 2
    while (base.parent / f"{base.name}{n}").exists():
        n += 1
    return base.parent / f"{base.name}{n}"


class Trainer:
    """One training run on one process (one rank of a distributed run)."""

    def __init__(self, cfg: TrainConfig, rank: int = 0, world_size: int = 1, local_rank: int = 0,
                 resume: Path | None = None, on_epoch_end: Callable[[int, "Trainer"], None] | None = None):
        self.cfg, self.rank, self.world, self.resume = cfg.check(), rank, world_size, resume
        self.on_epoch_end = on_epoch_end
        self.main = rank == 0
        self.device = pick_device(cfg.device, local_rank)
        if cfg.precision == "fp16" and self.device.type != "cuda":
            raise TrainConfigError("--precision fp16 needs a CUDA device (use bf16 on CPU)")
        if cfg.sync_bn and cfg.devices > 1 and self.device.type != "cuda":
            raise TrainConfigError("--sync-bn needs CUDA devices (PyTorch's SyncBatchNorm is GPU-only); on CPU use "
                                   "--freeze-bn for batch-size-independent BatchNorm")
        self.cuda = self.device.type == "cuda"
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.tensorboard:
            from ..optional import require

            require("tensorboard", "yolopt[tensorboard]", "--tensorboard")  # fail before anything is written
        if self.cuda:
            torch.backends.cudnn.benchmark = not cfg.deterministic
        seed_everything(cfg.seed + rank, cfg.deterministic)

        from .loader import build_train_loader  # data pipeline; raises DatasetError before anything is written

        self.label_free = is_image_folder(cfg.data)
        if self.label_free and not cfg.teacher:
            raise TrainConfigError(f"--data {cfg.data} is a folder of images without labels: label-free training "
                                   "needs a --teacher to supervise it (or give a COCO folder / data.yaml)")
        teacher = load_model_checked(cfg.teacher) if cfg.teacher else None
        self.loader = build_train_loader(
            cfg.data, cfg.imgsz, cfg.batch, workers=cfg.workers, augment=cfg.augment, mosaic=cfg.mosaic,
            cache=cfg.cache, seed=cfg.seed, rank=rank, world_size=world_size, shuffle=cfg.shuffle,
            pin_memory=self.cuda, unlabeled_names=class_list(teacher.names) if self.label_free and teacher else None)
        names = {i: n for i, n in enumerate(self.loader.dataset.names)}
        if teacher is not None and not self.label_free:
            check_classes(teacher, names, cfg.teacher, "the training data")
        elif teacher is not None and cfg.nc is None:  # label-free: the data's classes are the teacher's
            check_classes(teacher, _student_names(cfg), cfg.teacher, "the student")
        self.model, notes = resolve_model(cfg, names)
        for n in notes:
            self._info(n)
        self.teacher = teacher
        if self.label_free:
            self._info(f"label-free: {len(self.loader.dataset)} unlabeled images, the teacher {cfg.teacher} alone "
                       "supervises (no detection loss)")
        self.save_dir = resume if resume is not None else run_dir(cfg)
        self.weights = self.save_dir / "weights"

    def _info(self, msg: str) -> None:
        if self.main:
            log.info(msg)

    # ---- set-up -------------------------------------------------------------------------------------------
    def _batches(self, n: int) -> list[torch.Tensor]:
        out = []
        for b in self.loader:
            out.append(b.img.float() / 255)
            if len(out) >= n:
                break
        return out

    def setup(self) -> None:
        cfg = self.cfg
        net = self.model.net
        if cfg.unfold_bn and self.resume is None and is_folded(net):
            self.loader.set_epoch(0)
            n = unfold(net, self._batches(max(1, math.ceil(64 / (cfg.batch * self.world)))),
                       self._global_sum if self.world > 1 else None, per_batch=not cfg.bn_frozen)
            self._info(f"the model's BatchNorm is folded into its convolutions (identity BN carrying the conv bias): "
                       f"unfolded {n} BatchNorm layers with statistics measured on training images (eval-mode outputs "
                       f"unchanged{'' if cfg.bn_frozen else '; training-mode normalisation starts where it belongs'})")
        if cfg.bn_frozen and cfg.freeze_bn is None:
            self._info("BatchNorm statistics stay as loaded while fine-tuning (they were measured on far more data than "
                       "this run sees; re-estimating them on it costs accuracy); --no-freeze-bn adapts them")
        frozen = freeze(net, cfg.freeze)
        if frozen:
            self._info(f"froze the first {cfg.freeze} layers ({len(frozen)} tensors)")
        net.to(self.device).train()
        if self.world > 1 and cfg.sync_bn:
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        self.ema = ModelEMA(net)
        self.net: nn.Module = net
        if self.world > 1:
            self.net = nn.parallel.DistributedDataParallel(net, device_ids=[self.device.index] if self.cuda else None)
        nb = len(self.loader)
        gbatch = cfg.batch * self.world
        self.accumulate_full = max(round(cfg.nbs / gbatch), 1)
        name, lr, momentum = cfg.optimizer, cfg.lr0, cfg.momentum
        warmup_bias_lr = cfg.warmup_bias_lr
        if name.lower() == "auto":
            iters = math.ceil(len(self.loader.dataset) / max(gbatch, cfg.nbs)) * cfg.epochs
            name, lr, momentum = auto_optimizer(iters, self.model.spec.nc)
            if name == "AdamW":
                warmup_bias_lr = 0.0  # Adam's steps are already normalised: no high bias LR at the start
            self._info(f"optimizer auto: {name} lr {lr} momentum {momentum}")
        wd = cfg.weight_decay * gbatch * self.accumulate_full / cfg.nbs
        self.opt = build_optimizer(unwrap(self.net), name, lr, momentum, wd)
        warm = max(round(cfg.warmup_epochs * nb), 100) if cfg.warmup_epochs > 0 else 0
        self.sched = Schedule(cfg.epochs, cfg.lrf, cfg.cos_lr, warm, warmup_bias_lr, cfg.warmup_momentum, momentum)
        self.criterion = DetectionLoss(self.model.spec.nc, score_sum_fn=self._global_sum if self.world > 1 else None)
        self.distiller = None
        if self.teacher is not None:
            self.distiller = Distiller(self.teacher, unwrap(self.net), DistillWeights(
                cfg.kd_cls, cfg.kd_dfl, cfg.kd_feature, cfg.kd_temperature, cfg.kd_temperature), self.device,
                share=cfg.freeze, log=self._info)
            if self.distiller.adapters is not None:
                self.opt.add_param_group({"params": list(self.distiller.adapters.parameters()), "weight_decay": 0.0,
                                          "initial_lr": self.opt.param_groups[0]["initial_lr"]})
        self.bns = batchnorms(unwrap(self.net)) if cfg.sparsity else []
        self.bn_scales = {"before": scale_histogram(unwrap(self.net))}
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.precision == "fp16")
        self.timer = StepTimer(self.device)
        self.start_epoch, self.it, self.last_step = 0, 0, -1
        self.best_fitness: float | None = None
        self.best_epoch: int | None = None
        self.rows: list[dict[str, Any]] = []
        self.skipped = self.bad_run = 0
        if self.resume is not None:
            info = checkpoint.load_state(self.weights / "last.state.safetensors", unwrap(self.net), self.ema.net, self.opt)
            self.start_epoch = info["epoch"] + 1
            self.it, self.last_step = info["it"], info["last_step"]
            self.ema.updates = info["ema_updates"]
            self.best_fitness, self.best_epoch = info["best_fitness"], info["best_epoch"]
            self.rows, self.skipped = info["rows"], info["skipped"]
            self._info(f"resuming {self.save_dir} from epoch {self.start_epoch + 1} of {cfg.epochs}")

    def _global_sum(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().clone()
        torch.distributed.all_reduce(x)
        return x

    def _autocast(self) -> contextlib.AbstractContextManager:
        p = self.cfg.precision
        if p == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if p == "bf16" else torch.float16)

    # ---- one epoch ----------------------------------------------------------------------------------------
    def train_epoch(self, epoch: int, max_steps: int | None = None) -> dict[str, Any]:
        cfg, timer, net = self.cfg, self.timer, self.net
        net.train()
        if cfg.bn_frozen:
            for m in net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        self.loader.set_epoch(epoch)
        nb = len(self.loader)
        mloss = torch.zeros(3 + (len(KD_ITEMS) if self.distiller is not None else 0), dtype=torch.float64)
        images, done, t0 = 0, 0, time.perf_counter()
        bar = _Progress(self.main, f"epoch {epoch + 1}/{cfg.epochs}", nb if max_steps is None else min(nb, max_steps))
        it = iter(self.loader)
        for i in range(nb):
            with timer("data"):
                batch = next(it, None)
            if batch is None:
                break
            self.sched.apply(self.opt, epoch, self.it)
            accumulate = self.sched.accumulate(self.it, cfg.batch * self.world, cfg.nbs)
            with timer("h2d"):
                img = batch.img.to(self.device, non_blocking=True).float().div_(255)
                targets = batch.targets.to(self.device, non_blocking=True)
            with timer("forward"), self._autocast():
                box, cls = net(img)
            with timer("loss"):
                if self.label_free:
                    loss, items = box.sum() * 0.0, torch.zeros(3, device=box.device)
                else:
                    loss, items = self.criterion(box.float(), cls.float(), targets, tuple(img.shape[2:]))
                if self.world > 1:
                    loss = loss * self.world * self.world  # global normalisation; DDP averages over ranks
                if self.distiller is not None:
                    kd = self.distiller(img, (box, cls))
                    # per-image scale like the detection loss; x world: DDP averages the ranks' gradients
                    loss = loss + sum(kd.values()) * img.shape[0] * self.world
                    items = torch.cat((items, torch.stack([kd.get(k, loss.new_zeros(())).detach()
                                                           for k in ("cls", "dfl", "feature")]).to(items.device)))
            finite = torch.isfinite(loss).all()
            if self.world > 1:
                flag = finite.float().reshape(1)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
                finite = flag.item() > 0
            if not bool(finite):
                self.skipped += 1
                self.bad_run += 1
                self.opt.zero_grad(set_to_none=True)
                self._check_bad(epoch, i)
                self.it += 1
                timer.step_done(images=img.shape[0])
                continue
            with timer("backward"):
                self.scaler.scale(loss).backward()
            if self.it - self.last_step >= accumulate:
                with timer("optimizer"):
                    ok = self._step()
                if ok:
                    self.bad_run = 0
                    with timer("ema"):
                        self.ema.update(net)
                else:
                    self.skipped += 1
                    self.bad_run += 1
                    self._check_bad(epoch, i)
                self.last_step = self.it
            self.it += 1
            timer.step_done(images=img.shape[0])
            images += img.shape[0]
            done += 1
            mloss += (items.double().cpu() - mloss) / done  # running mean over the steps that counted
            bar.update(mloss.tolist(), images / max(time.perf_counter() - t0, 1e-9))
            if max_steps is not None and i + 1 >= max_steps:
                break
        bar.close()
        if self.world > 1:
            t = mloss.clone()
            torch.distributed.all_reduce(t)
            mloss = t  # items are normalised by the global score sum: their sum over ranks is the global loss
        dt = time.perf_counter() - t0
        kd = {k: float(v) for k, v in zip(KD_ITEMS, mloss[3:])}
        return {"epoch": epoch + 1, "box_loss": float(mloss[0]), "cls_loss": float(mloss[1]),
                "dfl_loss": float(mloss[2]), **kd, "lr": float(self.opt.param_groups[0]["lr"]),
                "train_img_s": images * self.world / dt if dt > 0 else 0.0, "epoch_s": dt,
                "rss_mb": rss_bytes() / 2**20, "skipped_steps": self.skipped}

    def _step(self) -> bool:
        """Unscale, clip, step; False (and no update) when the gradients are not finite."""
        self.scaler.unscale_(self.opt)
        params = [p for g in self.opt.param_groups for p in g["params"]]
        norm = torch.nn.utils.clip_grad_norm_(params, self.cfg.clip)
        ok = bool(torch.isfinite(norm))
        if ok and self.bns:
            add_l1_grad(self.bns, self.cfg.sparsity)
        if self.scaler.is_enabled():
            self.scaler.step(self.opt)  # skips the step itself on inf/nan
            self.scaler.update()
        elif ok:
            self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return ok

    def _check_bad(self, epoch: int, step: int) -> None:
        bad_run = self.bad_run  # counted across epochs: N in a row, wherever they fall
        if bad_run >= self.cfg.max_bad_steps:
            last = self.weights / "last.safetensors"
            kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was written yet"
            raise TrainingDiverged(f"training stopped: {bad_run} non-finite losses or gradients in a row (epoch "
                                   f"{epoch + 1}, step {step + 1}); {kept}. Lower --lr0, use --precision fp32, or "
                                   f"check the labels")

    # ---- validation and saving ----------------------------------------------------------------------------
    def validate(self) -> tuple[float | None, float | None]:
        if not self.cfg.val or (self.label_free and not self.cfg.val_data):
            return None, None
        from ..eval import val

        model = clean_copy(self.ema.net, self.model)
        threads = torch.get_num_threads()
        try:
            res = val(self.cfg.val_data or self.cfg.data, model, imgsz=self.cfg.imgsz, backend="torch",
                      batch=self.cfg.batch, plots=False, split="val")
        finally:  # a CPU backend sets the process's torch threads for its streams; training must get its own back
            torch.set_num_threads(threads)
        return float(res.metrics.map50_95), float(res.metrics.map50)

    def save(self, epoch: int, fitness: float | None) -> None:
        model = clean_copy(self.ema.net, self.model)
        model.meta.update({"train": {"epoch": epoch + 1, "data": str(self.cfg.data), "fitness": fitness,
                                     "teacher": self.cfg.teacher, "sparsity": self.cfg.sparsity or None,
                                     "bn_scales": {**self.bn_scales, "after": scale_histogram(model.net)}}})
        info = {"epoch": epoch, "it": self.it, "last_step": self.last_step, "ema_updates": self.ema.updates,
                "best_fitness": self.best_fitness, "best_epoch": self.best_epoch, "rows": self.rows,
                "skipped": self.skipped}
        checkpoint.save_state(self.weights / "last.state.safetensors", unwrap(self.net), self.ema.net, self.opt, info)
        checkpoint.save_model(model, self.weights / "last.safetensors")
        if (fitness is not None and self.best_epoch == epoch) or not self.cfg.val:
            checkpoint.save_model(model, self.weights / "best.safetensors")  # without validation best is the last

    # ---- the run --------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg = self.cfg
        self.setup()
        if self.main:
            self.weights.mkdir(parents=True, exist_ok=True)
            if self.resume is None:
                results.write_json(self.save_dir / "args.json", cfg.to_dict())
            self._info(f"training {cfg.model} on {cfg.data}: {len(self.loader.dataset)} images, {cfg.epochs} epochs, "
                       f"imgsz {cfg.imgsz}, batch {cfg.batch}x{self.world}, {cfg.precision}, {self.device}; "
                       f"results in {self.save_dir}")
        if cfg.profile:
            return self._profile()
        writer = _tensorboard(self.save_dir) if cfg.tensorboard and self.main else None
        stopped = None
        epoch = self.start_epoch - 1
        for epoch in range(self.start_epoch, cfg.epochs):
            if cfg.close_mosaic and epoch >= cfg.epochs - cfg.close_mosaic and self.loader.mosaic:
                self.loader.close_mosaic()
                self._info(f"mosaic off from epoch {epoch + 1} (--close-mosaic {cfg.close_mosaic})")
            row = self.train_epoch(epoch)
            stop = False
            if self.main:
                last_epoch = epoch + 1 == cfg.epochs
                m, m50 = self.validate() if ((epoch + 1) % cfg.val_every == 0 or last_epoch) else (None, None)
                row.update(map50_95=m, map50=m50)
                if m is not None and (self.best_fitness is None or m > self.best_fitness):
                    self.best_fitness, self.best_epoch = m, epoch
                self.rows.append(row)
                self.save(epoch, m)
                release_memory()  # validation's and saving's temporaries, so RSS stays flat from epoch to epoch
                results.write_results(self.save_dir / "results.csv", self.rows)
                if writer is not None:
                    for k, v in row.items():
                        if isinstance(v, (int, float)) and k != "epoch":
                            writer.add_scalar(k, v, epoch + 1)
                self._info(_row_text(row))
                if self.best_epoch is not None and cfg.patience and epoch - self.best_epoch >= cfg.patience:
                    stop = True
                    stopped = f"no improvement for {cfg.patience} epochs (best: epoch {self.best_epoch + 1})"
                    self._info(f"early stop: {stopped}")
            if self.world > 1:
                flag = torch.tensor([1.0 if stop else 0.0])
                torch.distributed.broadcast(flag, 0)
                stop = bool(flag.item())
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch, self)
            if stop:
                break
        if writer is not None:
            writer.close()
        if self.main and cfg.plots and self.rows:
            results.plot_results(self.save_dir / "results.png", self.rows)
        if self.main and self.rows:
            hists = {**self.bn_scales, "after": scale_histogram(self.ema.net)}
            results.write_json(self.save_dir / "bn_scales.json", hists)
            if cfg.plots:
                plot_histograms(hists, self.save_dir / "bn_scales.png", f"BatchNorm |scale|, sparsity {cfg.sparsity:g}")
        best = self.weights / "best.safetensors"
        last = self.weights / "last.safetensors"
        return TrainResult(self.save_dir, best if best.exists() else None, last if last.exists() else None,
                           self.best_fitness, None if self.best_epoch is None else self.best_epoch + 1, epoch + 1,
                           self.rows, self.skipped, stopped)

    def _profile(self) -> TrainResult:
        """``--profile N``: N timed steps, the data pipeline alone, memory, and the profiler's verdict."""
        from . import profiler

        self.train_epoch(self.start_epoch, max_steps=self.cfg.profile)
        data_alone = profiler.measure_data_alone(self.loader, min(self.cfg.profile, len(self.loader)))
        summary = profiler.report(self.timer, data_alone_img_s=data_alone["img_per_s"],
                                  memory={"rss_mb": rss_bytes() / 2**20}, workers=self.cfg.workers,
                                  cache=self.cfg.cache, precision=self.cfg.precision)
        return TrainResult(self.save_dir, None, None, None, None, 0, [], self.skipped, "profile", summary)


class _Progress:
    """A per-epoch progress bar (losses, img/s, ETA) on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, title: str, total: int):
        import sys

        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn(title), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=False)
            self.bar.start()
            self.task = self.bar.add_task("", total=total)

    def update(self, losses: list[float], img_s: float) -> None:
        if self.bar is not None:
            box, cls, dfl = losses[:3]
            self.bar.update(self.task, advance=1,
                            description=f"box {box:.3f} cls {cls:.3f} dfl {dfl:.3f} {img_s:.1f} img/s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _row_text(r: dict[str, Any]) -> str:
    m = "" if r.get("map50_95") is None else f", mAP50-95 {r['map50_95']:.4f} mAP50 {r['map50']:.4f}"
    return (f"epoch {r['epoch']}: box {r['box_loss']:.4f} cls {r['cls_loss']:.4f} dfl {r['dfl_loss']:.4f}{m}, "
            f"{r['train_img_s']:.2f} img/s, {r['epoch_s']:.1f} s, RSS {r['rss_mb']:.0f} MB")


def _tensorboard(save_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(save_dir))


def train(on_epoch_end: Callable[[int, Trainer], None] | None = None, **kwargs: Any) -> TrainResult:
    """Train a YOLOv8 detector; keyword arguments are :class:`TrainConfig` fields (``resume=RUN_DIR`` continues a run).

    ``devices=N`` > 1 (and not already under torchrun) starts N processes (see :mod:`.distributed`).
    """
    resume = kwargs.pop("resume", None)
    if resume is not None:
        resume = Path(resume)
        args = resume / "args.json"
        state = resume / "weights" / "last.state.safetensors"
        if not args.exists() or not state.exists():
            raise TrainConfigError(f"--resume {resume}: not a training run (needs args.json and weights/"
                                   f"last.state.safetensors)")
        import json

        saved = json.loads(args.read_text())
        saved.update({k: v for k, v in kwargs.items() if k in ("device", "workers")})
        cfg = TrainConfig.from_dict(saved)
    else:
        cfg = TrainConfig.from_dict(kwargs)
        unknown = set(kwargs) - set(cfg.to_dict())
        if unknown:
            raise TrainConfigError(f"unknown training settings: {', '.join(sorted(unknown))}")
    cfg.check()
    from .distributed import launch

    return launch(cfg, resume, on_epoch_end)
