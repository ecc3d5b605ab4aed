"""Offline batch inference over huge folders with Ray Data, writing the same files as ``yolopt predict``.

    import ray
    from yolopt.serve.ray_data import predict_folder

    ray.init()                     # or ray.init(address="auto") to join a cluster
    predict_folder(["images/"], out="dets.json", fmt="coco")

or ``python -m yolopt.serve.ray_data images/ --format coco --out dets.json``.

Each actor of the pool holds one model and runs the same stages as the batch engine (decode + letterbox,
same-shape batches, per-image NMS), so every image gets exactly the detections ``yolopt predict`` gives it.
Rows come back in input order and go through :mod:`yolopt.io.sinks`; unreadable inputs become error records.

Exactness needs one more thing here: PyTorch's CPU kernels reduce in a thread-count-dependent order (scores
move by ~1e-6 between 1 and 2 threads), and Ray pins a 1-CPU actor to one thread. So each actor runs with as
many threads as each of ``yolopt predict``'s inference calls uses on the driver's machine
(``backends.base.cpu_streams``) and reserves as many CPUs; pass ``threads`` to trade that identity for
fewer, larger actors.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.sources import Item, error_source, expand, is_video
from ..backends.base import cpu_streams
from ..engine import PredictConfig, prepare
from ..engine.predictor import detect_prepared
from ..results import Detections
from ..optional import require

_VIDEO_ERROR = "video inputs are not supported by the Ray Data path (use yolopt predict)"


@dataclass
class RunSummary:
    """What a run did: inputs, failures (with reasons) and wall time."""

    inputs: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def img_s(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


def list_inputs(sources: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    """One row per input image, numbered in ``yolopt predict``'s order; expansion errors and videos as error rows."""
    for index, p in enumerate(expand(sources)):
        if isinstance(p, str):  # an expansion error, as iter_items reports it
            yield {"index": index, "source": error_source(p), "error": p[1:]}
        elif is_video(p):
            yield {"index": index, "source": str(p), "error": f"{p}: {_VIDEO_ERROR}"}
        else:
            yield {"index": index, "source": str(p), "error": ""}


class Predictor:
    """The Ray Data UDF: one model per actor; a batch of rows (paths) in, one row of detections per input out."""

    def __init__(self, model: str, backend: str, config: PredictConfig, threads: int, workers: int = 2):
        import torch

        from ..detector import make_backend

        torch.set_num_threads(threads)
        self.backend = make_backend(model, backend, threads=threads)
        self.config = config
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="yolopt-prep")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [Item(int(i), str(s), path=None if e else Path(str(s)), error=str(e) or None)
                 for i, s, e in zip(batch["index"], batch["source"], batch["error"])]
        dets: dict[int, Detections] = {}
        groups: dict[tuple, list] = {}
        for prep in self.pool.map(lambda it: prepare(it, self.config.imgsz, max_pixels=self.config.max_pixels), items):
            if prep.error is not None:
                dets[prep.item.index] = Detections(prep.item.source, index=prep.item.index, error=prep.error)
            else:
                groups.setdefault(prep.chw.shape, []).append(prep)  # type: ignore[union-attr]
        for group in groups.values():  # same-shape batches, as the batch engine forms them
            for d in detect_prepared(self.backend, group, self.config):
                dets[d.index] = d
        return to_columns([dets[it.index] for it in items])


def to_columns(dets: list[Detections]) -> dict[str, np.ndarray]:
    """Detections as Arrow-friendly columns; arrays travel as raw bytes so no value is rounded on the way."""
    return {
        "index": np.array([d.index for d in dets], np.int64),
        "source": np.array([d.source for d in dets], object),
        "error": np.array([d.error or "" for d in dets], object),
        "height": np.array([d.shape[0] if d.shape else -1 for d in dets], np.int64),
        "width": np.array([d.shape[1] if d.shape else -1 for d in dets], np.int64),
        "boxes": np.array([np.asarray(d.boxes, np.float32).tobytes() for d in dets], object),
        "scores": np.array([np.asarray(d.scores, np.float32).tobytes() for d in dets], object),
        "class_ids": np.array([np.asarray(d.class_ids, np.int64).tobytes() for d in dets], object),
    }


def from_row(row: dict[str, Any], names: dict[int, str]) -> Detections:
    """Rebuild one :class:`Detections` from its columns."""
    if row["error"]:
        return Detections(str(row["source"]), index=int(row["index"]), names=names, error=str(row["error"]))
    return Detections(
        str(row["source"]),
        boxes=np.frombuffer(row["boxes"], np.float32).reshape(-1, 4),
        scores=np.frombuffer(row["scores"], np.float32),
        class_ids=np.frombuffer(row["class_ids"], np.int64),
        names=names, shape=(int(row["height"]), int(row["width"])), index=int(row["index"]),
    )


def predict_dataset(sources: Iterable[str | Path], model: str = "yolov8n", backend: str = "auto",
                    config: PredictConfig | None = None, batch_size: int = 8, actors: int | None = None,
                    threads: int | None = None) -> Any:
    """A lazy Ray Dataset of detection rows (one per input, in input order); see :func:`predict_folder`."""
    ray = require("ray", "yolopt[ray]")
    require("ray.data", "yolopt[ray]")
    if not ray.is_initialized():
        ray.init()
    threads = threads or cpu_streams()[1]  # what each of yolopt predict's calls uses here: see the module docstring
    cpus_per_actor = float(threads)
    rows = list(list_inputs(sources))
    if not rows:
        raise ValueError("no inputs found")
    if actors is None:
        actors = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_actor))
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True  # the output lists images in input order, as yolopt predict does
    blocks = max(1, min(len(rows) // batch_size, 4 * actors * 8))
    ds = ray.data.from_items(rows, override_num_blocks=blocks)
    return ds.map_batches(
        Predictor, fn_constructor_kwargs={"model": model, "backend": backend, "config": config or PredictConfig(),
                                          "threads": threads},
        batch_size=batch_size, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=cpus_per_actor,
    )


def predict_folder(sources: Iterable[str | Path] | str | Path, out: str | Path | None = None, fmt: str = "jsonl",
                   model: str = "yolov8n", backend: str = "auto", imgsz: int = 640, conf: float = 0.25,
                   iou: float = 0.7, max_det: int = 300, classes: Iterable[int] | None = None, batch_size: int = 8,
                   actors: int | None = None, threads: int | None = None) -> RunSummary:
    """Detect objects in every image under ``sources`` on the Ray cluster (``ray.init()`` first, or a local one
    is started) and write ``out`` in ``fmt`` (jsonl, coco, csv, yolo) exactly as ``yolopt predict`` would."""
    from ..detector import make_backend
    from ..io import open_sink

    if isinstance(sources, (str, Path)):
        sources = [sources]
    config = PredictConfig(imgsz, conf, iou, max_det, tuple(classes) if classes is not None else None)
    names = make_backend(model, backend).names  # results carry them; the actors load their own copy
    sink = open_sink(fmt, out)
    summary = RunSummary()
    t0 = time.perf_counter()
    try:
        ds = predict_dataset(sources, model, backend, config, batch_size, actors, threads)
        for batch in ds.iter_batches(batch_size=256, batch_format="pandas"):
            for row in batch.to_dict("records"):
                det = from_row(row, names)
                summary.inputs += 1
                if det.error:
                    summary.failed.append(det.error)
                sink.write(det)
    finally:
        sink.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m yolopt.serve.ray_data``: the predict command, run on Ray."""
    ap = argparse.ArgumentParser(prog="python -m yolopt.serve.ray_data", description=predict_folder.__doc__)
    ap.add_argument("sources", nargs="+")
    ap.add_argument("--model", "-m", default="yolov8n")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--iou", type=float, default=0.7)
    ap.add_argument("--max-det", type=int, default=300)
    ap.add_argument("--classes", help="Comma-separated class ids.")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--actors", type=int, help="Model replicas (default: cluster CPUs / --threads).")
    ap.add_argument("--threads", type=int, help="Torch threads (= CPUs) per actor (default: as yolopt predict).")
    ap.add_argument("--format", "-f", default="jsonl", dest="fmt")
    ap.add_argument("--out", "-o")
    ap.add_argument("--address", help="Ray cluster address (default: start a local one).")
    a = ap.parse_args(argv)
    ray = require("ray", "yolopt[ray]")
    ray.init(address=a.address, log_to_driver=False)
    classes = [int(c) for c in a.classes.split(",") if c] if a.classes else None
    s = predict_folder(a.sources, a.out, a.fmt, a.model, a.backend, a.imgsz, a.conf, a.iou, a.max_det, classes,
                       a.batch, a.actors, a.threads)
    print(f"{s.inputs} inputs in {s.seconds:.2f}s ({s.img_s:.1f} img/s): {s.inputs - len(s.failed)} ok, "
          f"{len(s.failed)} failed", file=sys.stderr)
    for msg in s.failed:
        print(f"  failed: {msg}", file=sys.stderr)
    return 1 if s.failed else 0


if __name__ == "__main__":
    sys.exit(main())
