"""Issue #15 item 8: `yolopt predict`'s default backend before (torch) and now (`auto`), side by side.

    python benchmarks/auto_backend.py [--images N] [--rounds R] [--seconds S]

Resolves ``backend="auto"`` for yolov8n as ``yolopt predict`` does (measuring once if this machine has no
remembered choice), then runs the full pipeline (decode → NMS, ``Detector`` defaults: batch 1, the
backend's streams) with the old default (torch) and the auto choice alternately, ``R`` rounds of at least
``S`` seconds each over the first ``N`` coco-val images, and prints the best img/s of each with the ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from yolopt import Detector
from yolopt.backends import auto
from yolopt.bench.runner import bench_one
from yolopt.machine import machine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=15.0)
    a = ap.parse_args()
    paths = sorted((DATA / "coco-val" / "images").glob("*.jpg"))[: a.images]
    choice = auto.resolve("yolov8n", 640, {}, log=print)
    print(f"{machine()}\nauto: {choice.name} ({choice.reason}); network img/s when measured: {choice.img_s}")
    dets = {"before: torch (old default)": Detector("yolov8n", "torch"),
            f"after: auto -> {choice.name}": Detector("yolov8n", choice.name)}
    best: dict[str, float] = {}
    for r in range(a.rounds):
        for label, det in dets.items():
            res, _ = bench_one(det, paths, 1, min_seconds=a.seconds)
            best[label] = max(best.get(label, 0.0), res.e2e_img_s)
            print(f"round {r + 1} {label}: {res.e2e_img_s:.1f} img/s end to end ({res.images} images)")
    (b, before), (_, after) = best.items()
    print(f"best of {a.rounds}: {before:.1f} -> {after:.1f} img/s end to end ({after / before:.2f}x)")


if __name__ == "__main__":
    main()
