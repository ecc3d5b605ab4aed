"""Multi-process training: ``--devices N`` spawns N ranks (or torchrun started them); gloo on CPU, NCCL on CUDA.

Each rank builds its own loader slice (the loader's DistributedSampler), DDP averages gradients, and only
rank 0 validates and writes files.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from .config import TrainConfig


def under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def backend_for(device: str) -> str:
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if cuda and dist.is_nccl_available() else "gloo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(cfg: TrainConfig, resume: Path | None = None, on_epoch_end: Callable | None = None) -> Any:
    """Run training on this process, under torchrun's ranks, or on ``cfg.devices`` spawned processes."""
    from .trainer import Trainer

    if under_torchrun():
        rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
        return _run_rank(local, cfg, resume, on_epoch_end, rank, world, None)
    if cfg.devices == 1:
        return Trainer(cfg, resume=resume, on_epoch_end=on_epoch_end).run()
    addr = f"127.0.0.1:{free_port()}"
    ctx = mp.get_context("spawn")
    out = ctx.SimpleQueue()
    mp.start_processes(_spawned, args=(cfg, resume, on_epoch_end, cfg.devices, addr, out), nprocs=cfg.devices,
                       join=True, start_method="spawn")
    return out.get()


def _spawned(local: int, cfg: TrainConfig, resume: Path | None, on_epoch_end: Callable | None, world: int,
             addr: str, out: Any) -> None:
    res = _run_rank(local, cfg, resume, on_epoch_end, local, world, addr)
    if local == 0:
        out.put(res)


def _run_rank(local: int, cfg: TrainConfig, resume: Path | None, on_epoch_end: Callable | None, rank: int,
              world: int, addr: str | None) -> Any:
    from .trainer import Trainer

    backend = backend_for(cfg.device)
    if backend == "nccl":
        torch.cuda.set_device(local)
    init = f"tcp://{addr}" if addr else "env://"
    dist.init_process_group(backend, init_method=init, rank=rank, world_size=world)
    try:
        return Trainer(cfg, rank, world, local, resume=resume, on_epoch_end=on_epoch_end).run()
    finally:
        dist.destroy_process_group()
