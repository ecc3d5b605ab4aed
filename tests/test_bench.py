"""``yolopt bench``: the table, JSON, CSV, Markdown and chart a user picks a deployment from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from browser import page_checks, table_with
from PIL import Image


def test_bench_compares_models_and_backends_with_map(cli, data_dir, gt_path, tmp_path):
    from yolopt.export import cached_export

    images = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:12]
    onnx = cached_export("yolov8n", "onnx")
    res = cli("bench", *images, "--model", "yolov8n", "--model", onnx, "--backends", "auto", "--batches", "1,4",
              "--annotations", gt_path, "--save-dir", tmp_path, "--html", tmp_path / "bench.html")
    assert res.returncode == 0, res.stderr
    rows = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert [(r["model"], r["backend"], r["batch"]) for r in rows] == [
        ("yolov8n", "torch", 1), ("yolov8n", "torch", 4), (onnx.name, "onnxruntime", 1), (onnx.name, "onnxruntime", 4)]
    for r in rows:
        assert r["images"] == 12 and r["e2e_img_s"] > 0 and r["infer_img_s"] > 0 and r["detections"] > 0
        assert r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] and r["peak_rss_mb"] > 0
        assert 0.1 < r["map50_95"] < r["map50"] < 1  # scored against the official annotations
    # the same model scores the same whatever the batch; the ONNX export agrees with torch
    assert rows[0]["map50_95"] == rows[1]["map50_95"] and abs(rows[0]["map50_95"] - rows[2]["map50_95"]) < 2e-3
    csv_lines = (tmp_path / "bench.csv").read_text().splitlines()
    assert csv_lines[0].startswith("model,backend,precision,batch,e2e img/s") and len(csv_lines) == 5
    assert (tmp_path / "bench.md").read_text().startswith("| model | backend |")
    chart = np.asarray(Image.open(tmp_path / "bench.png"))
    assert chart.shape[0] > 200 and chart.std() > 10  # a real picture, not a blank canvas
    assert "onnxruntime" in res.stdout and "e2e img/s" in res.stdout
    facts = page_checks((tmp_path / "bench.html").read_text())  # the HTML report: every row, numbers, the chart
    table = table_with(facts.page, "e2e img/s")
    assert [(r[0], r[1], int(r[3])) for r in table["rows"]] == [(r["model"], r["backend"], r["batch"]) for r in rows]
    assert [float(r[4]) for r in table["rows"]] == pytest.approx([r["e2e_img_s"] for r in rows], rel=1e-3)
    assert len(facts.image_sizes) == 1


def test_bench_skips_what_a_backend_cannot_run_and_fails_when_nothing_ran(cli, data_dir, tmp_path):
    images = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:2]
    res = cli("bench", *images, "--backends", "onnxruntime", "--precisions", "bf16", "--batches", "1",
              "--save-dir", tmp_path)
    assert res.returncode == 2
    assert "onnxruntime bf16: skipped" in res.stderr and "no backend and precision combination ran" in res.stderr
