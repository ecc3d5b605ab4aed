"""Outputs never lie: checked writes, unique stable names, streaming CSV, atomic COCO, and a resumable JSONL job."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from yolopt.io.sinks import CocoSink, CsvSink, YoloSink
from yolopt.results import Detections

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "yolopt" / "assets" / "samples"


def det(source: str, frame: int | None = None, index: int = 0) -> Detections:
    return Detections(source, np.array([[10, 10, 50, 40]], np.float32), np.array([0.9], np.float32),
                      np.array([0]), {0: "person"}, (100, 200), index, frame)


def tiny_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    img = cv2.resize(cv2.imread(str(SAMPLES / "000000184324.jpg")), (64, 48))
    ok, buf = cv2.imencode(".jpg", img)
    paths = [folder / f"{i:05d}.jpg" for i in range(n)]
    for p in paths:
        p.write_bytes(buf.tobytes())
    return paths


def test_same_stem_inputs_get_distinct_stable_annotated_images(tmp_path, cli):
    src = tmp_path / "in"
    for sub in ("a", "b"):
        (src / sub).mkdir(parents=True)
        (src / sub / "x.jpg").write_bytes((SAMPLES / "000000184324.jpg").read_bytes())
    img = cv2.imread(str(SAMPLES / "000000303818.jpg"))
    cv2.imwrite(str(src / "x.png"), img)
    names = []
    for run in range(2):
        out = tmp_path / f"drawn{run}"
        res = cli("predict", str(src), "--save-images", str(out), "--out", str(tmp_path / "d.jsonl"))
        assert res.returncode == 0, res.stderr
        names.append(sorted(p.name for p in out.iterdir()))
    assert len(names[0]) == 3 and names[0] == names[1]


def test_failed_annotated_image_write_is_a_failed_input(tmp_path, cli):
    out = tmp_path / "drawn"
    out.mkdir()
    (out / "000000184324.jpg").mkdir()  # a directory where the image must go: imwrite fails for that input
    res = cli("predict", str(SAMPLES), "--save-images", str(out), "--out", str(tmp_path / "d.jsonl"))
    assert res.returncode == 1, res.stderr
    assert "2 ok, 1 failed" in res.stderr and "could not write the annotated image" in res.stderr


def test_yolo_names_split_frames_only(tmp_path):
    sink = YoloSink(tmp_path)
    sink.write(det("photo#1.jpg"))
    sink.write(det("clip.mp4#7", frame=7))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip_7.txt", "photo#1.txt"]


def test_coco_file_is_complete_or_absent_and_csv_rows_stream(tmp_path):
    out = tmp_path / "dets.json"
    sink = CocoSink(out)
    sink.write(det("a.jpg"))
    assert not out.exists()  # nothing half-written under the final name
    sink.close()
    assert len(json.loads(out.read_text())) == 1
    assert not list(tmp_path.glob(".*part"))
    out = tmp_path / "dets.csv"
    sink = CsvSink(out)
    sink.write(det("a.jpg"))
    rows = list(csv.reader(out.open()))  # readable before close: each row is flushed as written
    assert rows[0][0] == "source" and rows[1][0] == "a.jpg"
    sink.close()


@pytest.mark.slow
def test_killed_jsonl_job_resumes_with_nothing_lost_or_duplicated(tmp_path):
    paths = tiny_images(tmp_path / "imgs", 600)
    out = tmp_path / "dets.jsonl"
    cmd = [sys.executable, "-m", "yolopt.cli", "predict", str(tmp_path / "imgs"), "--imgsz", "64", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 50:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the job ended before it could be killed: give it more images"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = out.read_bytes().count(b"\n")
    assert 50 <= first < len(paths)
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"{len(paths) - first} ok" in res.stderr or "resume:" in res.stderr
    sources = [json.loads(line)["source"] for line in out.read_text().splitlines()]
    assert sorted(sources) == sorted(str(p) for p in paths)  # every input exactly once
    res = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and "0 inputs" in res.stderr
    assert out.read_text().count("\n") == len(paths)
