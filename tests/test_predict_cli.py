"""`yolopt predict` as a user runs it: reference detections, output formats, video, bad inputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from yolopt.ops.boxes import box_iou




def test_predict_reproduces_reference_detections(cli, data_dir, yolov8n_pt):
    ref = json.loads((data_dir / "reference" / "yolov8n_detections.json").read_text())
    samples = [str(data_dir / "samples" / name) for name in sorted(ref)]
    res = cli("predict", *samples, "--model", str(yolov8n_pt), "--conf", "0.25", "--iou", "0.7")
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert [Path(r["source"]).name for r in records] == sorted(ref)
    for rec in records:
        expected = ref[Path(rec["source"]).name]
        assert [rec["height"], rec["width"]] == expected["orig_hw"]
        ours, theirs = rec["detections"], expected["detections"]
        assert len(ours) == len(theirs)
        iou = box_iou(np.array([d["box"] for d in ours]), np.array([d["xyxy"] for d in theirs]))
        best = iou.argmax(1)
        assert len(set(best.tolist())) == len(theirs)  # one-to-one
        assert iou.max(1).min() >= 0.99
        for d, j in zip(ours, best.tolist()):
            assert d["class_id"] == theirs[j]["cls"]
            assert abs(d["score"] - theirs[j]["conf"]) <= 1e-3


def test_predict_without_arguments_uses_bundled_model_and_samples(cli):
    res = cli("predict")
    assert res.returncode == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(records) == 3 and all(r["detections"] for r in records)
    assert "3 ok, 0 failed" in res.stderr


def test_output_formats_and_drawing(cli, data_dir, tmp_path):
    samples = data_dir / "samples"
    images = [str(p) for p in sorted(samples.glob("*.jpg"))]
    res = cli("predict", *images, "--format", "coco", "--out", str(tmp_path / "dets.json"), "--classes", "0,2",
              "--save-images", str(tmp_path / "drawn"))
    assert res.returncode == 0, res.stderr
    coco = json.loads((tmp_path / "dets.json").read_text())
    assert {d["image_id"] for d in coco} == {184324, 303818, 397133}
    assert {d["category_id"] for d in coco} <= {1, 3}  # person, car in COCO ids
    assert all(len(d["bbox"]) == 4 and d["bbox"][2] > 0 for d in coco)
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == sorted(Path(p).name for p in images)

    res = cli("predict", str(samples / "*.jpg"), "--format", "csv", "--out", str(tmp_path / "d.csv"))
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "d.csv")))
    assert len({r["source"] for r in rows}) == 3 and all(r["class_name"] for r in rows)

    res = cli("predict", str(samples), "--format", "yolo", "--out", str(tmp_path / "labels"), "--batch", "1")
    assert res.returncode == 0, res.stderr
    label = (tmp_path / "labels" / "000000184324.txt").read_text().splitlines()
    vals = np.array([[float(v) for v in line.split()] for line in label])
    assert vals.shape[1] == 6 and (vals[:, 1:5] >= 0).all() and (vals[:, 1:5] <= 1).all()
    # the video in the samples folder yields one label file per frame
    assert len(list((tmp_path / "labels").glob("car-detection_*.txt"))) == 377


def test_video_frames_have_index_and_timestamp(data_dir):
    from yolopt import Detector

    det = Detector("yolov8n", batch=4)
    out = []
    for r in det.predict([data_dir / "samples" / "car-detection.mp4"]):
        out.append(r)
        if len(out) == 12:
            break
    assert [r.frame for r in out] == list(range(12))
    # 377 frames over 30.2 s: 12.5 fps
    assert out[0].timestamp == 0.0 and out[11].timestamp == pytest.approx(11 * 30.2 / 377, abs=0.01)
    assert all(r.shape == (432, 768) for r in out)


def test_bad_inputs_are_reported_and_the_job_finishes(cli, data_dir, tmp_path):
    good = tmp_path / "good.jpg"
    shutil.copy(data_dir / "samples" / "000000397133.jpg", good)
    (tmp_path / "empty.jpg").write_bytes(b"")
    data = good.read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(1000))
    (tmp_path / "notes.txt.jpg").write_text("just some text")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    missing = tmp_path / "missing.jpg"
    inputs = [str(good), str(tmp_path / "empty.jpg"), str(tmp_path / "truncated.jpg"), str(tmp_path / "corrupt.png"),
              str(tmp_path / "notes.txt.jpg"), str(tmp_path / "broken.mp4"), str(missing), str(tmp_path / "*.gif")]
    res = cli("predict", *inputs, "--batch", "4")
    assert res.returncode == 1
    records = [json.loads(line) for line in res.stdout.splitlines()]
    by_source = {r["source"]: r for r in records}
    assert by_source[str(good)]["detections"]
    assert "empty file" in by_source[str(tmp_path / "empty.jpg")]["error"]
    for name in ("corrupt.png", "notes.txt.jpg"):
        assert "not a decodable image" in by_source[str(tmp_path / name)]["error"]
    assert "cannot open video" in by_source[str(tmp_path / "broken.mp4")]["error"]
    assert "no such file" in by_source[str(missing)]["error"]
    assert "matched no files" in by_source[str(tmp_path / "*.gif")]["error"]
    assert "truncated JPEG" in by_source[str(tmp_path / "truncated.jpg")]["error"]
    assert [r["index"] for r in records] == list(range(len(records)))
    failed = [r for r in records if "error" in r]
    assert f"{len(records) - len(failed)} ok, {len(failed)} failed" in res.stderr
    for r in failed:
        assert r["error"] in res.stderr


def test_invalid_options_fail_clearly(cli, data_dir):
    res = cli("predict", str(data_dir / "samples" / "000000397133.jpg"), "--imgsz", "650")
    assert res.returncode == 2 and "multiple of 32" in res.stderr
    res = cli("predict", str(data_dir / "samples" / "000000397133.jpg"), "--classes", "0,99")
    assert res.returncode == 2 and "99" in res.stderr
    res = cli("predict", str(data_dir / "samples" / "000000397133.jpg"), "--batch", "lots")
    assert res.returncode == 2 and "'auto'" in res.stderr
    res = cli("predict", str(data_dir / "samples" / "000000397133.jpg"), "--backend", "onnxruntime",
              "--precision", "bf16")
    assert res.returncode == 2 and "bf16" in res.stderr


def test_batch_auto_and_precision_options(cli, data_dir):
    res = cli("predict", str(data_dir / "samples" / "*.jpg"), "--batch", "auto", "--imgsz", "320", "--precision", "bf16",
              "--threads", "1")
    assert res.returncode == 0, res.stderr
    assert "batch auto: " in res.stderr and "3 ok, 0 failed" in res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(records) == 3 and all(r["detections"] for r in records)
