"""Speed and accuracy of one configuration, measured with yolopt's own bench runner and val pipeline.

Speed: :func:`yolopt.bench.runner.bench_one` (files on disk to detections, as ``yolopt predict`` runs them) on a
sample of images repeated for a few seconds. Accuracy: :class:`yolopt.optimize.scoring.Scorer` (``yolopt val``'s
pipeline and COCO scoring). Both go through :class:`~.cache.Cache`; ``cached`` in the result says which did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .artifacts import Artifacts
from .cache import Cache, digest, files_digest
from .space import Config, Variant

#: The confidence threshold of timed runs (``yolopt predict``'s and ``bench``'s default).
SPEED_CONF = 0.25


@dataclass
class Measurer:
    """Measures configs of one model on fixed sample images (speed) and a labelled set (accuracy), cached."""

    artifacts: Artifacts
    cache: Cache
    sample: list[Path]
    val: str | Path
    val_batch: int = 8

    def __post_init__(self) -> None:
        self._sample_id = files_digest(self.sample)
        self._inputs: dict[int, Any] = {}

    def _base(self, v: Variant, imgsz: int) -> str:
        # the weights digest of the variant's own model, not its path: a pruned file is known by its weights
        return f"{self.artifacts.digest_of(v)}|{v.backend}|{v.precision}|{imgsz}"

    def detector(self, cfg: Config, **kw: Any) -> Any:
        """The Detector a config runs as (its model file, backend, input size, batch, streams, threads)."""
        from ...detector import Detector

        v = cfg.variant
        kw.setdefault("conf", SPEED_CONF)
        return Detector(self.artifacts.file(v, cfg.imgsz), v.backend, imgsz=cfg.imgsz, batch=cfg.batch,
                        streams=cfg.streams, threads=cfg.threads, precision=self.artifacts.run_precision(v), **kw)

    def speed(self, cfg: Config, seconds: float, stage: str) -> tuple[dict[str, Any], bool]:
        """{"e2e_img_s", "latency_ms", "batch_ms", "streams"} of ``cfg``, and whether it came from the cache."""
        key = (f"speed|{self._base(cfg.variant, cfg.imgsz)}|b{cfg.batch}|s{cfg.streams}|t{cfg.threads}|{stage}"
               f"|{self._sample_id}|{seconds:g}s")
        known = self.cache.get(key)
        if known is not None:
            return known, True
        from ...backends.base import concurrency
        from ...bench.runner import bench_one

        det = self.detector(cfg)
        res, _ = bench_one(det, self.sample, cfg.batch, None, precision=cfg.variant.precision, min_seconds=seconds)
        value = {"e2e_img_s": res.e2e_img_s, "latency_ms": res.latency_ms["p50"],
                 "batch_ms": res.batch_latency_ms["p50"], "streams": concurrency(det.backend),
                 "threads": cfg.threads, "images": res.images}
        self.cache.put(key, value)
        return value, False

    def accuracy(self, v: Variant, imgsz: int) -> tuple[dict[str, float], bool]:
        """{"map50_95", "map50"} of ``v`` at ``imgsz`` on the validation set, and whether it came from the cache."""
        from ..scoring import Scorer

        scorer = Scorer(self.val, v.backend, imgsz, self.val_batch)
        key = f"map|{self._base(v, imgsz)}|{digest(str(Path(self.val).resolve()))}|{files_digest(scorer.paths)}"
        known = self.cache.get(key)
        if known is not None:
            return known, True
        precision = self.artifacts.run_precision(v) or "fp32"
        m, metrics = scorer(self.artifacts.file(v, imgsz), precision)
        value = {"map50_95": round(m, 4), "map50": round(float(metrics.map50), 4)}
        self.cache.put(key, value)
        return value, False
