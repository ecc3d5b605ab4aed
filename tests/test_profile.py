"""`yolopt profile`: complete stage accounting, every Conv timed, and two induced bottlenecks diagnosed."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from browser import page_checks, table_with

from yolopt.model.blocks import Conv
from yolopt.profile import profile


@pytest.mark.slow
def test_default_run_accounts_for_wall_time_and_times_every_conv(cli, data_dir, tmp_path):
    res = cli("profile", data_dir / "coco-val" / "images", "--limit", "24", "--save-dir", tmp_path,
              "--html", tmp_path / "profile.html")
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path / "profile.json").read_text())
    stages = rep["serial_ms"]
    assert {"read", "decode", "letterbox", "inference", "postprocess", "write"} <= stages.keys()
    assert abs(sum(stages.values()) - rep["serial_wall_ms"]) <= 0.10 * rep["serial_wall_ms"]
    assert rep["pipeline"]["img_s"] > 0 and [q["name"] for q in rep["pipeline"]["queues"]] == ["decoded", "batches", "outputs"]
    assert rep["system"]["cores"] >= 1 and rep["system"]["peak_rss_mb"] > 0
    # every Conv block of the network (57 conv+BN+SiLU units in yolov8n) has a time
    from yolopt.model import load_model

    convs = {n for n, m in load_model("yolov8n").net.named_modules() if isinstance(m, Conv)}
    timed = {row["name"]: row for row in rep["layers"]}
    assert convs <= timed.keys() and all(timed[n]["ms"] > 0 for n in convs)
    assert (tmp_path / "profile.png").stat().st_size > 0 and (tmp_path / "trace.json").stat().st_size > 0
    assert rep["findings"] and all(f["evidence"] for f in rep["findings"])
    facts = page_checks((tmp_path / "profile.html").read_text())  # the HTML report has every layer and stage
    assert len(table_with(facts.page, "GFLOPs")["rows"]) == len(rep["layers"])
    assert [r[0] for r in table_with(facts.page, "% of wall")["rows"]] == list(stages)
    assert len(facts.image_sizes) == 1


@pytest.mark.slow
def test_slow_decoder_is_diagnosed_as_decode_bound(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "huge"
    folder.mkdir()
    for i in range(6):  # 6000x4000 noisy JPEGs: each costs far more to decode than yolov8n costs to run
        img = rng.integers(0, 256, (4000, 6000, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"big{i}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    # imgsz 320 keeps the network cheap, so the verdict holds even when other processes slow inference down
    rep = profile([folder], workers=1, batch=1, imgsz=320, save_dir=tmp_path / "out", layer_repeats=1)
    kinds = [f.kind for f in rep.findings]
    assert "decode-bound" in kinds, rep.findings
    assert rep.serial_ms["decode"] > rep.serial_ms["inference"]


@pytest.mark.slow
def test_tiny_conf_and_many_detections_is_postprocess_heavy(data_dir, tmp_path):
    rep = profile([data_dir / "coco-val" / "images"], limit=10, conf=0.0, max_det=10000,  # every anchor reaches NMS
                  save_dir=tmp_path, layer_repeats=1)
    base = profile([data_dir / "coco-val" / "images"], limit=10, save_dir=tmp_path / "base", layer_repeats=1)
    post = rep.serial_ms["postprocess"] + rep.serial_ms["write"]
    assert post > 4 * (base.serial_ms["postprocess"] + base.serial_ms["write"])
    assert "postprocess-heavy" in [f.kind for f in rep.findings], (rep.serial_ms, rep.findings)
    assert "postprocess-heavy" not in [f.kind for f in base.findings]
