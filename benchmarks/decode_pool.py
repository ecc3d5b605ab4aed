"""Threads or processes for decode + letterbox? Prepared images per second over the 500 shared JPEGs.

    python benchmarks/decode_pool.py [--workers 2] [--rounds 3]

The engine uses threads: OpenCV releases the GIL while decoding and resizing, so threads run in parallel
without copying each decoded image back across a process boundary (~0.9 MB per 640x480 input).
Rounds alternate the two pools so background load hits both alike; the best round of each is printed.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from yolopt.data.sources import Item
from yolopt.engine.predictor import prepare

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _prepare(i_path: tuple[int, Path]):
    i, path = i_path
    p = prepare(Item(i, str(path), path=path), 640)
    return p.chw, p.info


def rate(pool: Executor, paths: list[Path]) -> float:
    t0 = time.perf_counter()
    n = sum(1 for chw, _ in pool.map(_prepare, enumerate(paths), chunksize=4) if chw is not None)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    paths = sorted((DATA / "coco-val" / "images").glob("*.jpg")) + sorted((DATA / "coco-val-extra" / "images").glob("*.jpg"))
    best = {"threads": 0.0, "processes": 0.0}
    with ThreadPoolExecutor(a.workers) as threads, ProcessPoolExecutor(a.workers) as procs:
        rate(procs, paths[:8])  # start the processes and import yolopt in them
        for _ in range(a.rounds):
            for name, pool in (("threads", threads), ("processes", procs)):
                best[name] = max(best[name], rate(pool, paths))
    for name, r in best.items():
        print(f"{name:9s} x{a.workers}: {r:6.1f} images/s decoded + letterboxed ({len(paths)} JPEGs, best of {a.rounds})")


if __name__ == "__main__":
    main()
