"""Issue #15 item 9: the quantize report's speed figures, measured the old way and the new way in one run.

    python benchmarks/quantize_speed.py [--int8 INT8.xml] [--calib-images N] [--seconds S]

Old way: batch 8, the 100 bench images once, FP32 then INT8 (what ``yolopt quantize`` reported before).
New way: :func:`yolopt.optimize.report.compare_speed` — the engine's default batch and streams, the same 100
images repeated for at least ``S`` s per run, FP32 and INT8 alternating twice, best kept. INT8 is made with
``yolopt.optimize.quantize`` (NNCF, coco-val-extra calibration, no scoring) unless given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from yolopt.bench.runner import bench_one
from yolopt.data.inputs import load_inputs
from yolopt.export import cached_export
from yolopt.machine import machine
from yolopt.optimize.calibration import spread
from yolopt.optimize.report import compare_speed
from yolopt.optimize.scoring import detector

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def old_way(path: Path, paths: list[Path], precision: str) -> tuple[float, float]:
    det = detector(path, "openvino", precision, imgsz=640, batch=8, conf=0.25)
    res, _ = bench_one(det, paths, 8, load_inputs(paths, 640), precision=precision)
    return res.e2e_img_s, res.infer_img_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--int8", default=None)
    ap.add_argument("--calib-images", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", default="runs/quantize_speed")
    a = ap.parse_args()
    fp32 = cached_export("yolov8n", "openvino")
    calib = DATA / "coco-val-extra" / "images"
    if a.int8 is None:
        from yolopt.optimize import quantize

        a.int8 = quantize(fp32, calib, Path(a.out) / "model_int8.xml", bench=False, calib_images=a.calib_images,
                          log=print).model
    paths = spread(sorted(calib.glob("*.jpg")), 100)
    print(machine())
    (b_e2e, b_inf), (a_e2e, a_inf) = old_way(fp32, paths, "fp32"), old_way(Path(a.int8), paths, "fp32")
    print(f"old way: FP32 {b_e2e} / INT8 {a_e2e} img/s", flush=True)
    print(f"old way (batch 8, 100 images once): FP32 {b_e2e:.1f} / INT8 {a_e2e:.1f} img/s end to end "
          f"({a_e2e / b_e2e:.2f}x), inference only {b_inf:.1f} / {a_inf:.1f} ({a_inf / b_inf:.2f}x)")
    sp = compare_speed(fp32, Path(a.int8), "openvino", paths, 640, "fp32", a.seconds, say=print)
    b, n = sp["before"], sp["after"]
    print(f"new way ({sp['method']}): FP32 {b['e2e_img_s']:.1f} / INT8 {n['e2e_img_s']:.1f} img/s end to end "
          f"({sp['e2e_speedup']:.2f}x), inference only {b['infer_img_s']:.1f} / {n['infer_img_s']:.1f} "
          f"({sp['infer_speedup']:.2f}x)")


if __name__ == "__main__":
    main()
