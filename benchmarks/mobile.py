"""Mobile exports on coco-val: mAP, file size, x86 inference speed and export time per format and precision.

    python benchmarks/mobile.py [--rows tflite:fp32,tflite:fp16,tflite:int8,ncnn:fp32,ncnn:fp16] [--out runs/mobile]

Each row exports yolov8n (shared/data/weights/yolov8n.pt) at 640 with ``yolopt.export.export_mobile`` (verified
against PyTorch FP32 on the bundled samples, as ``yolopt export`` does; INT8 is calibrated on coco128, never on
coco-val), scores it on coco-val with ``yolopt.eval.val`` (conf 0.001, the file's own backend). Then every
file's backend and PyTorch FP32 are timed round-robin on the same padded 640x640 inputs: inference alone, one
call at a time, threads = cores. ``--reuse --no-val`` re-times files already exported. x86 speed is a sanity check only: phones and boards run other kernels (ARM NEON, GPU delegates).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from yolopt.bench.runner import machine
from yolopt.export.files import model_files

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SUFFIX = {"tflite": ".tflite", "ncnn": ".param", "coreml": ".mlpackage"}


def file_mb(path: Path) -> float:
    """Size of an exported model with its side files (.bin for NCNN; the folder of an .mlpackage)."""
    return sum(p.stat().st_size for p in model_files(path) if p.exists()) / 1e6


def interleaved_img_s(backends: dict[str, object], inputs: list[np.ndarray], rounds: int = 3) -> dict[str, float]:
    """Images per second of each ``backend.infer`` alone (one image per call), timed round-robin: every round
    runs each backend once over ``inputs``, so the machine's changing load falls on all of them alike; the
    median round counts."""
    times: dict[str, list[float]] = {k: [] for k in backends}
    for b in backends.values():
        b.infer(inputs[0])  # warm-up
    for _ in range(rounds):
        for k, b in backends.items():
            t0 = time.perf_counter()
            for x in inputs:
                b.infer(x)
            times[k].append(time.perf_counter() - t0)
    return {k: len(inputs) / float(np.median(v)) for k, v in times.items()}


def main() -> None:
    from yolopt.backends.torch_backend import TorchBackend
    from yolopt.detector import make_backend
    from yolopt.eval import val
    from yolopt.export.mobile import export_mobile
    from yolopt.export.verify import sample_inputs
    from yolopt.model import load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", default="tflite:fp32,tflite:fp16,tflite:int8,ncnn:fp32,ncnn:fp16")
    ap.add_argument("--model", default=str(DATA / "weights" / "yolov8n.pt"))
    ap.add_argument("--calib", default=str(DATA / "coco128" / "images"), help="INT8 calibration images")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--out", default="runs/mobile")
    ap.add_argument("--no-val", action="store_true", help="skip the coco-val mAP runs")
    ap.add_argument("--threads", type=int, default=None, help="inference threads (default: all cores)")
    ap.add_argument("--reuse", action="store_true", help="time files already in --out instead of exporting again")
    a = ap.parse_args()
    out, cores = Path(a.out), a.threads or os.cpu_count() or 1
    model = load_model(a.model)
    inputs = sample_inputs(a.imgsz) * 3  # 9 padded 640x640 inputs: the same for every row
    print(f"{machine()}; load average {os.getloadavg()[0]:.2f} before the run")
    rows, backends = [], {"torch:fp32": TorchBackend(model, threads=cores, streams=1)}
    for item in a.rows.split(","):
        fmt, precision = item.split(":")
        path = out / f"yolov8n_{precision}{SUFFIX[fmt]}"
        export_s = float("nan")
        if not (a.reuse and path.exists()):
            t0 = time.perf_counter()
            export_mobile(model, fmt, path, half=precision == "fp16", imgsz=a.imgsz, int8=precision == "int8",
                          data=a.calib if precision == "int8" else None)
            export_s = time.perf_counter() - t0
        m50_95 = m50 = float("nan")
        if not a.no_val:
            res = val(DATA / "coco-val", path, imgsz=a.imgsz, save_dir=None, plots=False)
            m50_95, m50 = res.metrics.map50_95, res.metrics.map50
        backends[item] = make_backend(path, threads=cores, streams=1)
        rows.append((fmt, precision, m50_95, m50, file_mb(path), export_s))
        print(rows[-1], flush=True)
    speed = interleaved_img_s(backends, inputs)
    ref = speed["torch:fp32"]
    print(f"\nPyTorch FP32 on the same inputs, same rounds: {ref:.2f} img/s; threads = {cores}; "
          f"load average {os.getloadavg()[0]:.2f} after the run\n")
    print(f"| format | precision | mAP50-95 | mAP50 | file MB | x86 inference img/s (threads = {cores}) | vs PyTorch FP32 | export s |")
    print("|---|---|---|---|---|---|---|---|")
    for fmt, precision, m50_95, m50, mb, export_s in rows:
        v = speed[f"{fmt}:{precision}"]
        print(f"| {fmt} | {precision} | {m50_95:.4f} | {m50:.4f} | {mb:.1f} | {v:.2f} | {v / ref:.2f}x | {export_s:.0f} |")


if __name__ == "__main__":
    main()
