"""Memory stays bounded on long runs: predict the 500 shared images N times over (default 5 = 2,500).

    python benchmarks/memory_soak.py [--repeats 5] [--backend torch] [--batch 8]

Prints the RSS right after the first 100 images and the peak over them, the peak RSS over the whole run,
and the ratios. RSS is sampled every 10 ms: a single sample lands anywhere between idle and the working
memory of the inferences in flight (tens of MB), so the peak over the first 100 images is the fairer base.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from yolopt import Detector
from yolopt.bench.monitor import RssMonitor, rss_bytes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--batch", type=int, default=1, help="1 is yolopt predict's default")
    ap.add_argument("--model", default="yolov8n")
    a = ap.parse_args()
    images = sorted((DATA / "coco-val" / "images").glob("*.jpg")) + sorted((DATA / "coco-val-extra" / "images").glob("*.jpg"))
    det = Detector(a.model, a.backend, conf=0.25, batch=a.batch)
    stream = itertools.chain.from_iterable(itertools.repeat(images, a.repeats))  # lazily, never a 2,500-list
    rss_100 = peak_100 = None
    n = 0
    t0 = time.perf_counter()
    with RssMonitor(0.01) as mon:
        for r in det.predict(stream):
            n += 1
            if n == 100:
                rss_100, peak_100 = rss_bytes(), mon.peak
            if n % 500 == 0:
                print(f"{n} images, RSS {rss_bytes() / 2**20:.1f} MB, peak {mon.peak / 2**20:.1f} MB", flush=True)
    dt = time.perf_counter() - t0
    assert rss_100 is not None and peak_100 is not None
    mb = 2**20
    print(f"{n} images in {dt:.0f}s ({n / dt:.1f} img/s), backend {a.backend}, batch {a.batch}")
    print(f"RSS sampled right after image 100: {rss_100 / mb:.1f} MB; peak RSS over images 1-100: {peak_100 / mb:.1f} MB; "
          f"peak RSS over the whole run: {mon.peak / mb:.1f} MB")
    print(f"peak / RSS after 100 = {mon.peak / rss_100:.3f}; peak / peak of the first 100 = {mon.peak / peak_100:.3f} "
          f"(target <= 1.10)")


if __name__ == "__main__":
    main()
