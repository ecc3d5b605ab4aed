"""FP32 IR vs INT8 IR vs OpenVINO BF16 on the 500 shared COCO images (conf 0.25), end to end and inference only.

    python benchmarks/quantize.py [--fp32 FP32.xml] [--int8 INT8.xml] [--batches 8] [--limit N]

Without --fp32 the yolov8n IR is exported (cached); without --int8 it is quantized first with
``yolopt.optimize.quantize`` (NNCF, calibrated on coco-val-extra, no scoring). Every row goes through
``yolopt.bench.run_bench`` on the same images: the FP32 IR at fp32, the INT8 IR (its float parts at fp32), and
the FP32 IR with OpenVINO's bf16 inference precision. Prints the table and the INT8/FP32 speed ratios.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from yolopt.bench import BenchResult, markdown_table, print_table, run_bench, save
from yolopt.bench.runner import machine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def models(fp32: str | None, int8: str | None, out: Path) -> tuple[str, str]:
    """The FP32 and INT8 IR paths, exporting / quantizing what was not given."""
    if fp32 is None:
        from yolopt.export import cached_export

        fp32 = str(cached_export("yolov8n", "openvino"))
    if int8 is None:
        from yolopt.optimize import quantize

        int8 = str(quantize(fp32, DATA / "coco-val-extra" / "images", out / "int8" / "model_int8.xml", bench=False,
                            log=print).model)
    return fp32, int8


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fp32", default=None, help="FP32 OpenVINO IR (default: yolov8n exported)")
    ap.add_argument("--int8", default=None, help="INT8 OpenVINO IR (default: quantized here)")
    ap.add_argument("--batches", default="8")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("--out", default="runs/quantize_bench")
    a = ap.parse_args()
    out = Path(a.out)
    fp32, int8 = models(a.fp32, a.int8, out)
    images = sorted((DATA / "coco-val" / "images").glob("*.jpg")) + sorted((DATA / "coco-val-extra" / "images").glob("*.jpg"))
    images = images[: a.limit]
    batches = [int(b) for b in a.batches.split(",")]
    print(f"{len(images)} images, conf {a.conf}, {machine()}, load average {os.getloadavg()[0]:.2f} before the run")
    print(f"fp32: {fp32}\nint8: {int8}")
    results: list[BenchResult] = []
    for model, precision, label in ((fp32, "fp32", "fp32"), (int8, "fp32", "int8"), (fp32, "bf16", "bf16")):
        rows = run_bench(model, images, ["openvino"], batches, [precision], a.conf, log=print)
        for r in rows:
            r.precision = label  # the INT8 IR runs with the fp32 hint for its float parts
        results += rows
    print_table(results)
    print(markdown_table(results))
    for b in batches:
        f = next(r for r in results if r.precision == "fp32" and r.batch == b)
        q = next(r for r in results if r.precision == "int8" and r.batch == b)
        print(f"batch {b}: int8/fp32 end to end {q.e2e_img_s / f.e2e_img_s:.2f}x "
              f"({q.e2e_img_s} vs {f.e2e_img_s} img/s), inference only {q.infer_img_s / f.infer_img_s:.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} after the run")
    save(results, out, {"title": f"yolov8n FP32 / INT8 / BF16 IR on {len(images)} COCO images, {machine()}"})


if __name__ == "__main__":
    main()
