"""End-to-end vs inference-only throughput per backend, precision and batch size on the 500 shared COCO images.

    python benchmarks/throughput.py [--backends torch,onnxruntime,openvino] [--precisions fp32,bf16]
                                    [--batches 1,8] [--conf 0.25]

Prints one table (and writes runs/throughput/bench.{json,csv,md,png}). End to end = files on disk →
decode → letterbox → backend → NMS → Detections, through the pipelined engine; inference-only =
``backend.infer`` on the same letterboxed images, pre-decoded in memory, at the same batch shapes, with
as many calls in flight as the engine makes. Combinations a backend does not run (onnxruntime bf16) are
skipped with a note.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from yolopt.bench import markdown_table, print_table, run_bench, save
from yolopt.bench.runner import machine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="yolov8n")
    ap.add_argument("--backends", default="torch,onnxruntime,openvino")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("--out", default="runs/throughput")
    a = ap.parse_args()
    images = sorted((DATA / "coco-val" / "images").glob("*.jpg")) + sorted((DATA / "coco-val-extra" / "images").glob("*.jpg"))
    images = images[: a.limit]
    print(f"{len(images)} images, conf {a.conf}, {machine()}, load average {os.getloadavg()[0]:.2f} before the run")
    results = run_bench(a.model, images, a.backends.split(","), [int(b) for b in a.batches.split(",")],
                        a.precisions.split(","), a.conf, workers=a.workers, log=print)
    print_table(results)
    print(markdown_table(results))
    best = max(results, key=lambda r: r.e2e_img_s)
    print(f"best end to end: {best.backend} {best.precision} batch {best.batch}: {best.e2e_img_s} img/s, "
          f"{best.e2e_img_s / best.infer_img_s:.2f}x its inference-only {best.infer_img_s} img/s")
    torch_rows = [r for r in results if r.backend == "torch"]
    if torch_rows:
        t = max(torch_rows, key=lambda r: r.e2e_img_s)
        print(f"best torch end to end: {t.precision} batch {t.batch}: {t.e2e_img_s} img/s")
    print(f"load average {os.getloadavg()[0]:.2f} after the run")
    save(results, a.out, {"title": f"{a.model} on {len(images)} COCO images, {machine()}"})


if __name__ == "__main__":
    main()
