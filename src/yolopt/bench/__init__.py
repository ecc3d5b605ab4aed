"""``yolopt bench``: backends x batch sizes x precisions, end to end and inference only."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ..data.decode import DecodeError
from ..detector import Detector
from ..errors import YoloptError
from .report import markdown_table, print_table, save
from ..data.inputs import image_files, load_inputs
from .runner import BenchResult, bench_one

Scorer = Callable[[list], tuple[float, float]]  # detections → (mAP50-95, mAP50)


def run_bench(
    model: str,
    sources: Iterable[str | Path],
    backends: Iterable[str] = ("torch",),
    batches: Iterable[int] = (1, 8),
    precisions: Iterable[str] = ("fp32",),
    conf: float = 0.25,
    imgsz: int = 640,
    workers: int | None = None,
    scorer: Scorer | None = None,
    log: Callable[[str], None] = lambda s: None,
    limit: int | None = None,
) -> list[BenchResult]:
    """Benchmark every (backend, precision, batch) combination on the same images (the first ``limit``);
    images that cannot be decoded are left out, each with a log line."""
    paths, inputs = [], []
    for p in image_files(sources)[:limit]:
        try:
            inputs += load_inputs([p], imgsz)
            paths.append(p)
        except DecodeError as e:
            log(f"skipped: {e}")
    if not paths:
        raise YoloptError(f"no decodable images to benchmark in {', '.join(map(str, sources))}")
    results = []
    for backend in backends:
        for precision in precisions:
            try:
                det = Detector(model, backend, imgsz=imgsz, conf=conf, workers=workers, precision=precision)
            except ValueError as e:  # e.g. a precision this backend does not run: the other rows still count
                log(f"{backend} {precision}: skipped ({e})")
                continue
            for batch in batches:
                log(f"{backend} {precision} batch {batch} ...")
                res, dets = bench_one(det, paths, batch, inputs, precision)
                res.model = Path(str(model)).name
                if scorer is not None:
                    res.map50_95, res.map50 = scorer(dets)
                log(f"  {res.e2e_img_s} img/s end to end, {res.infer_img_s} img/s inference only")
                results.append(res)
    return results


__all__ = ["BenchResult", "markdown_table", "print_table", "run_bench", "save"]
