"""``yolopt prune`` as a user runs it: the pruned model, report.json/.md/.png and the printed table with original
and pruned rows measured (img/s, mAP) and the recovery rows pending; and ``--sweep`` with its curve.
(Recovery fine-tuning inside prune: tests/test_prune_recover.py.)"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from browser import page_checks, table_with

pytest.importorskip("torch_pruning", reason="needs yolopt[prune]")

@pytest.fixture(scope="module")
def tiny_val(data_dir, tmp_path_factory) -> Path:
    """Every 40th coco-val image (6) with its official annotations, as a COCO dataset folder."""
    gt = json.loads((data_dir / "coco-val" / "annotations" / "instances_val2017_subset.json").read_text())
    gt["images"] = sorted(gt["images"], key=lambda im: im["file_name"])[::40]
    ids = {im["id"] for im in gt["images"]}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in ids]
    root = tmp_path_factory.mktemp("tiny_val")
    (root / "annotations").mkdir()
    (root / "images").mkdir()
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(gt))
    for im in gt["images"]:
        shutil.copy(data_dir / "coco-val" / "images" / im["file_name"], root / "images")
    return root


@pytest.mark.slow
def test_prune_report(tiny_val, tmp_path, cli):
    out = tmp_path / "p"
    p = cli("prune", "--ratio", "0.15", "--out", out, "--bench", tiny_val / "images", "--bench-images", "4",
            "--val", tiny_val, "--imgsz", "320", "--rounds", "1", "--bench-seconds", "0", "--html", out / "report.html")
    assert p.returncode == 0, p.stderr
    rep = json.loads((out / "report.json").read_text())
    rows = {(r["model"], r["runtime"]): r for r in rep["rows"]}
    orig, pr = rows[("original", "openvino-fp32")], rows[("pruned (before fine-tuning)", "openvino-fp32")]
    assert ("original", "torch-fp32") in rows and ("pruned (before fine-tuning)", "torch-fp32") in rows
    assert pr["gflops"] < orig["gflops"] and pr["params"] < orig["params"] and pr["file_mb"] < orig["file_mb"]
    assert pr["gflops"] / orig["gflops"] == pytest.approx(rep["macs_fraction"], abs=1e-3)
    for r in (orig, pr):
        assert r["e2e_img_s"] > 0 and r["infer_img_s"] > 0 and 0 <= r["map50_95"] <= r["map50"] <= 1
    assert orig["e2e_vs_original"] == 1.0 and pr["e2e_vs_original"] == pytest.approx(
        pr["e2e_img_s"] / orig["e2e_img_s"], rel=1e-2)
    assert orig["map50_95"] > 0.2  # the unpruned yolov8n at 320 on these images
    pending = [r for r in rep["rows"] if "pending" in r]
    assert [r["model"] for r in pending] == ["pruned + fine-tuned", "pruned + fine-tuned + teacher",
                                             "pruned + fine-tuned + INT8"]
    assert all("--finetune-epochs" in r["pending"] for r in pending)
    assert {c["layer"] for c in rep["channels"]} >= {"model.0.conv", "model.2.cv1.a.conv", "model.2.cv1.b.conv"}
    md = (out / "report.md").read_text()
    assert "## Channels per layer" in md and "| model.9.cv2.conv | " in md and "| pruned + fine-tuned | pending |" in md
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG" and (out / "pruned.safetensors").is_file()
    assert re.search(r"\npruned \(before fine-tuning\) +openvino-fp32 ", p.stdout) and "--finetune-epochs" in p.stdout
    facts = page_checks((out / "report.html").read_text())
    assert [(r[0], r[1]) for r in table_with(facts.page, "mAP50-95")["rows"]] == [
        (r["model"], r.get("runtime") or "pending") for r in rep["rows"]]
    assert len(table_with(facts.page, "out after")["rows"]) == len(rep["channels"]) and len(facts.image_sizes) == 1


@pytest.mark.slow
def test_sweep_curve(tmp_path, data_dir, cli):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for f in sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:3]:
        shutil.copy(f, imgs)
    out = tmp_path / "s"
    p = cli("prune", "--sweep", "0.8,0.6", "--out", out, "--bench", imgs, "--imgsz", "320", "--rounds", "1",
            "--runtimes", "openvino-fp32", "--bench-seconds", "0", "--html", out / "sweep.html")
    assert p.returncode == 0, p.stderr
    rep = json.loads((out / "sweep.json").read_text())
    assert [r["target"] for r in rep["rows"]] == [1.0, 0.8, 0.6]
    assert [r["macs_kept"] <= r["target"] for r in rep["rows"][1:]] == [True, True]
    assert rep["rows"][1]["gflops"] > rep["rows"][2]["gflops"] and rep["recovery"] == "none"
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG" and "| 0.8 | pruned to 0.8 MACs |" in \
        (out / "sweep.md").read_text()
    assert "--finetune-epochs" in p.stdout
    facts = page_checks((out / "sweep.html").read_text())
    assert [r[2] for r in table_with(facts.page, "target MACs")["rows"]] == ["1", "0.8", "0.6"]
    assert len(facts.image_sizes) == 1
    p = cli("prune", "--sweep", "0.8,1.5", "--out", tmp_path / "bad")
    assert p.returncode == 2 and "every target must be a fraction" in p.stderr
