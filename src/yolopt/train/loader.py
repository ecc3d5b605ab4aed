"""The training data loader: seeded batches decoded and augmented in worker processes, DDP-aware.

Every sample's randomness comes from (seed, epoch, index), and the epoch and mosaic switch travel with each
index from the sampler, so the batches are the same whatever the worker count, and persistent workers need no
state pushed into them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from ..data.letterbox import letterbox_shape
from .dataset import DatasetError, Records, TrainDataset, load_records, unlabeled_records

log = logging.getLogger("yolopt.train")
STRIDE = 32


@dataclass
class Batch:
    """``img`` B x 3 x H x W uint8 RGB; ``targets`` N x 6 ``[batch index, class, cx, cy, w, h]`` normalised to img."""

    img: torch.Tensor
    targets: torch.Tensor
    paths: list[str]
    unreadable: list[str] = field(default_factory=list)

    def pin_memory(self) -> "Batch":
        """Page-locked copies, so a CUDA copy can run asynchronously (DataLoader calls this with pin_memory)."""
        return Batch(self.img.pin_memory(), self.targets.pin_memory(), self.paths, self.unreadable)

    def __len__(self) -> int:
        return int(self.img.shape[0])


def collate(samples: list[tuple[np.ndarray, np.ndarray, str, list[str]]]) -> Batch:
    """Stack images and concatenate labels, each row prefixed with its image's index in the batch."""
    img = torch.from_numpy(np.stack([s[0] for s in samples]))
    counts = [len(s[1]) for s in samples]
    lab = np.concatenate([s[1] for s in samples] + [np.zeros((0, 5), np.float32)])
    idx = np.repeat(np.arange(len(samples), dtype=np.float32), counts)[:, None]
    targets = torch.from_numpy(np.concatenate([idx, lab], 1).astype(np.float32))
    return Batch(img, targets, [s[2] for s in samples], [p for s in samples for p in s[3]])


class EpochBatchSampler(Sampler):
    """Batches of keys ``(index, epoch, mosaic, shape)``: this rank's share (DistributedSampler) of the epoch."""

    def __init__(self, dataset: TrainDataset, batch: int, shuffle: bool, seed: int, rank: int, world_size: int,
                 rect: bool) -> None:
        self.sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
        self.batch, self.epoch, self.mosaic = batch, 0, True
        self.shapes = None
        if rect:  # per image: its own letterbox shape; a batch gets the largest of its images' (they are alike)
            sz = dataset.imgsz
            self.shapes = np.array([letterbox_shape(tuple(hw), sz, STRIDE, True) for hw in dataset.records.shapes])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[tuple]]:
        order = list(self.sampler)
        for k in range(0, len(order), self.batch):
            idx = order[k : k + self.batch]
            shape = None if self.shapes is None else tuple(int(v) for v in self.shapes[idx].max(0))
            yield [(i, self.epoch, self.mosaic, shape) for i in idx]

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch)


def _worker_init(_: int) -> None:
    """One torch thread per worker: the workers are the parallelism. (OpenCV's thread count is left alone:
    ``cv2.setNumThreads`` in a forked child can deadlock on the pool it inherited.)"""
    torch.set_num_threads(1)


class TrainLoader:
    """Iterates :class:`Batch` es for one epoch at a time; ``set_epoch`` reseeds, ``close_mosaic`` turns mosaic off."""

    def __init__(self, dataset: TrainDataset, batch: int, *, workers: int = 2, shuffle: bool = True, seed: int = 0,
                 rank: int = 0, world_size: int = 1, mosaic: bool = True, rect: bool = False,
                 pin_memory: bool = False) -> None:
        self.dataset = dataset
        self.batch_sampler = EpochBatchSampler(dataset, batch, shuffle and not rect, seed, rank, world_size, rect)
        self.batch_sampler.mosaic = mosaic and dataset.augment
        self.unreadable: set[str] = set()
        self._loader = DataLoader(dataset, batch_sampler=self.batch_sampler, num_workers=workers, collate_fn=collate,
                                  pin_memory=pin_memory, worker_init_fn=_worker_init if workers else None,
                                  persistent_workers=workers > 0, prefetch_factor=4 if workers else None)

    @property
    def mosaic(self) -> bool:
        return self.batch_sampler.mosaic

    def set_epoch(self, epoch: int) -> None:
        """Shuffle order and augmentation of ``epoch`` (the same on every run and rank count with one seed)."""
        self.batch_sampler.set_epoch(epoch)

    def close_mosaic(self) -> None:
        """No mosaic from the next epoch on (YOLOv8's last ``close_mosaic`` epochs train on whole images)."""
        self.batch_sampler.mosaic = False

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[Batch]:
        new = set()
        for b in self._loader:
            new.update(b.unreadable)
            yield b
        if new - self.unreadable:
            log.warning(f"{len(new - self.unreadable)} images could not be decoded this epoch and were replaced by "
                        f"their neighbours: {', '.join(sorted(new - self.unreadable)[:5])}")
        self.unreadable |= new


def build_train_loader(data: str | Path, imgsz: int, batch: int, *, workers: int = 2, augment: bool = True,
                       mosaic: bool = True, cache: str | None = None, seed: int = 0, rank: int = 0,
                       world_size: int = 1, shuffle: bool = True, rect: bool = False, split: str = "train",
                       pin_memory: bool = False, unlabeled_names: list[str] | None = None) -> TrainLoader:
    """A loader over ``data`` (COCO folder/JSON or YOLO data.yaml); raises :class:`DatasetError` for unusable data.

    ``rect`` (validation): no augmentation, images in aspect-ratio order, each batch padded to its own shape.
    ``unlabeled_names``: ``data`` is a folder of images without labels (label-free distillation) of these classes.
    """
    if imgsz % STRIDE:
        raise DatasetError(f"imgsz {imgsz} must be a multiple of {STRIDE}")
    if batch < 1 or workers < 0 or not 0 <= rank < world_size:
        raise DatasetError(f"bad loader settings: batch {batch}, workers {workers}, rank {rank} of {world_size}")
    records = load_records(data, split) if unlabeled_names is None else unlabeled_records(data, unlabeled_names)
    if rect:
        records = _by_aspect(records)
    ds = TrainDataset(records, imgsz, augment=augment and not rect, cache=cache, seed=seed)
    return TrainLoader(ds, batch, workers=workers, shuffle=shuffle, seed=seed, rank=rank, world_size=world_size,
                       mosaic=mosaic, rect=rect, pin_memory=pin_memory)


def _by_aspect(r: Records) -> Records:
    """Records sorted by height / width, so rectangular batches hold images of similar shape (little padding)."""
    order = np.argsort(r.shapes[:, 0] / r.shapes[:, 1], kind="stable")
    return Records(r.source, [r.paths[i] for i in order], [r.labels[i] for i in order], r.shapes[order], r.names,
                   r.skipped_images, r.skipped_lines)
