"""A pruned model is a normal yolopt model: from its .safetensors file it predicts, validates, exports (ONNX,
OpenVINO) with outputs matching PyTorch, quantizes to INT8, benchmarks and serves, like any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

from yolopt import Detector  # noqa: E402
from yolopt.detector import make_backend  # noqa: E402
from yolopt.model import save_yolopt  # noqa: E402
from yolopt.optimize.prune import prune  # noqa: E402

IMGSZ = 320


@pytest.fixture(scope="module")
def pruned_file(tmp_path_factory) -> Path:
    """yolov8n with 5 % of every layer's channels removed (0.97 of the MACs: it still finds objects), saved."""
    res = prune("yolov8n", ratio=0.05)
    assert res.macs_fraction < 1
    return save_yolopt(res.model, tmp_path_factory.mktemp("pruned") / "pruned.safetensors")


@pytest.fixture(scope="module")
def samples(data_dir) -> list[Path]:
    return sorted((data_dir / "samples").glob("*.jpg"))


def _dets(model, sources, **kw):
    return [(r.boxes, r.scores, r.labels) for r in Detector(str(model), imgsz=IMGSZ, conf=0.25, **kw).predict(sources)]


@pytest.mark.slow
def test_predict_and_export_match_torch(pruned_file, samples, tmp_path, data_dir):
    from test_export import BOX_ATOL, SCORE_ATOL, real_images

    from yolopt.export import export

    ref = _dets(pruned_file, samples)
    assert sum(len(b) for b, _, _ in ref) > 0
    x = real_images(data_dir, 320, 320, 2)
    want = make_backend(pruned_file, "torch").infer(x)
    for fmt, name in (("onnx", "p.onnx"), ("openvino", "p.xml")):
        path = export(pruned_file, fmt, tmp_path / name)
        out = make_backend(path).infer(x)
        assert out.shape == want.shape
        assert np.abs(out - want)[:, :4].max() <= BOX_ATOL and np.abs(out - want)[:, 4:].max() <= SCORE_ATOL
        assert len(_dets(path, samples)) == len(samples)


@pytest.mark.slow
def test_val_bench_and_int8(pruned_file, data_dir, tmp_path):
    from yolopt.bench import run_bench
    from yolopt.eval import val
    from yolopt.optimize import quantize

    imgs = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:4]
    res = val(data_dir / "coco-val", pruned_file, imgsz=IMGSZ, save_dir=tmp_path / "val", plots=False)
    assert 0 < res.metrics.map50_95 < 1 and res.metrics.map50 >= res.metrics.map50_95
    rows = run_bench(str(pruned_file), imgs, ["torch"], [1], ["fp32"], imgsz=IMGSZ)
    assert len(rows) == 1 and rows[0].e2e_img_s > 0 and rows[0].infer_img_s > 0
    calib = tmp_path / "calib"
    calib.mkdir()
    for p in sorted((data_dir / "coco-val-extra" / "images").glob("*.jpg"))[:10]:
        shutil.copy(p, calib)
    q = quantize(pruned_file, calib, tmp_path / "int8.xml", imgsz=IMGSZ, calib_images=10, bench=False)
    meta = json.loads(q.model.with_name("int8.report.json").read_text())
    assert meta["size_bytes"]["after"] < 0.4 * meta["size_bytes"]["before"]
    assert len(_dets(q.model, imgs)) == len(imgs)


@pytest.mark.slow
def test_serve_answers_as_predict(pruned_file, samples, tmp_path):
    pytest.importorskip("starlette", reason="needs yolopt[serve]")
    from test_serve import Server, detect

    server = Server("--model", str(pruned_file), "--imgsz", str(IMGSZ), log=tmp_path / "serve.log")
    try:
        status, _, body, _ = detect(server.port, samples[0].read_bytes())
    finally:
        server.stop()
    assert status == 200, body
    (boxes, scores, labels), = _dets(pruned_file, samples[:1])
    assert [d["class_name"] for d in body["detections"]] == list(labels) and len(labels) > 0
    assert np.abs(np.array([d["box"] for d in body["detections"]]) - boxes).max() <= 1e-2
