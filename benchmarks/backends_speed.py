"""Raw ``backend.infer`` throughput (img/s) of torch, onnxruntime and openvino FP32 on real 448x640 inputs.

Usage: python benchmarks/backends_speed.py [--model M] [--rounds 5] [--seconds 3] [--only openvino]
Configurations are interleaved round by round, so background load on a shared machine hits every row
alike; the best round (closest to an idle machine), the median and the worst are printed, with the load
average around the run. OpenVINO runs three ways: one compiled model per input shape (``static``), one per
(H, W) with a dynamic batch (``hw``), and one dynamic-shape model (``dynamic``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from yolopt.data.decode import read_image
from yolopt.data.letterbox import letterbox
from yolopt.detector import make_backend

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def inputs(shape: tuple[int, int], n: int, imgsz: int = 640) -> np.ndarray:
    """``n`` distinct COCO images whose letterbox is ``shape``, as (n, 3, H, W) uint8 RGB."""
    out = []
    for p in sorted((DATA / "coco-val" / "images").glob("*.jpg")):
        lb, _ = letterbox(read_image(p), imgsz)
        if lb.shape[:2] == shape:
            out.append(np.ascontiguousarray(lb[..., ::-1].transpose(2, 0, 1)))
            if len(out) == n:
                return np.stack(out)
    raise RuntimeError(f"fewer than {n} images letterbox to {shape}")


def rate(backend, x: np.ndarray, seconds: float) -> float:
    """img/s of repeated ``infer(x)`` over about ``seconds``."""
    backend.infer(x)  # warm-up: first call compiles / reshapes
    n, t0 = 0, time.perf_counter()
    while (dt := time.perf_counter() - t0) < seconds:
        backend.infer(x)
        n += len(x)
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DATA / "weights" / "yolov8n.pt"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--only", default="", help="comma-separated name prefixes to run, e.g. 'openvino'")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    x = inputs((448, 640), 8)
    backends = {
        "torch": make_backend(args.model, "torch"),
        "onnxruntime": make_backend(args.model, "onnxruntime"),
        "openvino static": make_backend(args.model, "openvino", shapes="static"),
        "openvino hw": make_backend(args.model, "openvino", shapes="hw"),
        "openvino dynamic": make_backend(args.model, "openvino", shapes="dynamic"),
    }
    if args.only:
        backends = {k: v for k, v in backends.items() if any(k.startswith(p) for p in args.only.split(","))}
    batches = [int(b) for b in args.batches.split(",")]
    rates: dict[tuple[str, int], list[float]] = {(k, b): [] for k in backends for b in batches}
    for r in range(args.rounds):
        for (name, b), vals in rates.items():
            vals.append(rate(backends[name], x[:b], args.seconds))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\nraw infer img/s, 448x640 uint8 input, FP32, {os.cpu_count()} CPUs, {args.rounds} rounds x "
          f"{args.seconds:g} s; 1-min load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{'backend':17s} {'batch':>5s} {'best':>7s} {'median':>7s} {'worst':>7s}")
    for (name, b), vals in rates.items():
        print(f"{name:17s} {b:5d} {max(vals):7.2f} {statistics.median(vals):7.2f} {min(vals):7.2f}")


if __name__ == "__main__":
    main()
