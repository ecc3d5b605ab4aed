"""COCO JSON <-> YOLO txt conversion on the real coco-val subset, and evaluation through data.yaml."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CliResult

from yolopt.data.coco_ids import COCO80_TO_91
from yolopt.eval import val




@pytest.fixture(scope="module")
def converted(cli, data_dir: Path, tmp_path_factory) -> tuple[Path, CliResult]:
    """coco-val converted to a YOLO dataset with the CLI."""
    out = tmp_path_factory.mktemp("yolo") / "coco-val-yolo"
    res = cli("data", "convert", str(data_dir / "coco-val"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out, res


def _pycocotools_stats(gt: dict, preds: list[dict]) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes([dict(p) for p in preds]), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _reference(ref_path: Path) -> list[dict]:
    with gzip.open(ref_path, "rt") as f:
        return [{k: d[k] for k in ("image_id", "category_id", "bbox", "score")} for d in json.load(f)]


def test_coco_to_yolo_layout_and_boxes(converted, gt_path):
    out, res = converted
    assert "21 crowd" in res.stderr and "21 crowd regions left out" in res.stdout
    gt = json.loads(gt_path.read_text())
    labels = sorted((out / "labels" / "val").glob("*.txt"))
    assert len(labels) == 206 and len(list((out / "images" / "val").iterdir())) == 206
    assert {p.read_text() for p in labels if p.stem in ("000000058636", "000000226111")} == {""}  # negatives
    # Every non-crowd box comes back from its normalised line, independently decoded here.
    images = {im["id"]: im for im in gt["images"]}
    expected: dict[str, list] = {}
    for a in gt["annotations"]:
        if not a["iscrowd"]:
            im = images[a["image_id"]]
            expected.setdefault(Path(im["file_name"]).stem, []).append((a["category_id"], a["bbox"], im))
    for p in labels:
        rows = np.loadtxt(p, ndmin=2) if p.stat().st_size else np.zeros((0, 5))
        exp = expected.get(p.stem, [])
        assert len(rows) == len(exp)
        for (cat, (x, y, w, h), im), (cls, cx, cy, nw, nh) in zip(exp, rows):
            assert COCO80_TO_91[int(cls)] == cat
            W, H = im["width"], im["height"]
            got = [(cx - nw / 2) * W, (cy - nh / 2) * H, nw * W, nh * H]
            assert got == pytest.approx([x, y, w, h], abs=2e-3)
    img = next((out / "images" / "val").iterdir())
    assert cv2.imread(str(img)) is not None


def test_yolo_val_equals_same_labels_scored_as_coco(cli, converted, gt_path, ref_path, tmp_path):
    """data.yaml evaluation == pycocotools on a COCO JSON built here, independently, from the same txt labels."""
    out, _ = converted
    preds = _reference(ref_path)
    res = cli("val", str(out / "data.yaml"), "--predictions", str(ref_path), "--save-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    yolo = json.loads((tmp_path / "metrics.json").read_text())

    gt = json.loads(gt_path.read_text())  # image sizes and ids; the boxes come from the txt files only
    anns = []
    for im in gt["images"]:
        W, H = im["width"], im["height"]
        txt = out / "labels" / "val" / (Path(im["file_name"]).stem + ".txt")
        for cls, cx, cy, w, h in (np.loadtxt(txt, ndmin=2) if txt.stat().st_size else []):
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": COCO80_TO_91[int(cls)],
                         "bbox": [(cx - w / 2) * W, (cy - h / 2) * H, w * W, h * H], "area": w * W * h * H,
                         "iscrowd": 0})
    as_coco = {"images": gt["images"], "annotations": anns, "categories": gt["categories"]}
    stats = _pycocotools_stats(as_coco, preds)
    assert yolo["map50_95"] == pytest.approx(stats[0], abs=5e-4)
    assert yolo["map50"] == pytest.approx(stats[1], abs=5e-4)
    assert yolo["map75"] == pytest.approx(stats[2], abs=5e-4)

    # The same labels converted back by yolopt and evaluated through the COCO route agree too.
    back = tmp_path / "back.json"
    res = cli("data", "convert", str(out / "data.yaml"), "--out", str(back))
    assert res.returncode == 0, res.stderr
    coco = val(back, predictions=ref_path, images=gt_path.parents[1] / "images")
    assert coco.metrics.map50_95 == pytest.approx(yolo["map50_95"], abs=5e-4)
    assert coco.metrics.map50 == pytest.approx(yolo["map50"], abs=5e-4)


def test_round_trip_keeps_ids_and_boxes(cli, converted, gt_path, tmp_path):
    out, _ = converted
    back = tmp_path / "back.json"
    assert cli("data", "convert", str(out), "--out", str(back)).returncode == 0
    orig = json.loads(gt_path.read_text())
    new = json.loads(back.read_text())
    assert sorted(im["id"] for im in new["images"]) == sorted(im["id"] for im in orig["images"])
    sizes = {im["id"]: (im["width"], im["height"]) for im in orig["images"]}
    assert all(sizes[im["id"]] == (im["width"], im["height"]) for im in new["images"])
    groups: dict[tuple[int, int], list[list]] = {}
    for i, anns in enumerate((orig["annotations"], new["annotations"])):
        for x in anns:
            if not x["iscrowd"]:
                groups.setdefault((x["image_id"], x["category_id"]), [[], []])[i].append(x["bbox"])
    for key, (a, b) in groups.items():  # same boxes per image and category, each within 2e-3 px of one other
        assert len(a) == len(b), key
        dist = np.abs(np.array(a)[:, None] - np.array(b)[None]).max(2)
        assert (dist.min(1) < 2e-3).all() and len(set(dist.argmin(1).tolist())) == len(a), key
    assert {c["id"] for c in new["categories"]} == {c["id"] for c in orig["categories"]}


def test_crowd_regions_are_what_yolo_labels_lose(converted, gt_path, ref_path, tmp_path):
    """Converted labels score lower only because crowd regions are gone: the official GT with its iscrowd
    annotations deleted scores the same (pycocotools directly). The size of the loss is printed."""
    out, _ = converted
    preds = _reference(ref_path)
    official = val(gt_path, predictions=ref_path).metrics
    yolo = val(out / "data.yaml", predictions=ref_path).metrics
    gt = json.loads(gt_path.read_text())
    gt["annotations"] = [a for a in gt["annotations"] if not a["iscrowd"]]
    no_crowd = _pycocotools_stats(gt, preds)
    assert yolo.map50_95 == pytest.approx(no_crowd[0], abs=5e-4)
    assert yolo.map50 == pytest.approx(no_crowd[1], abs=5e-4)
    assert yolo.map50_95 < official.map50_95 and yolo.map50 < official.map50
    print(f"crowd regions dropped: mAP50-95 {official.map50_95:.4f} -> {yolo.map50_95:.4f}, "
          f"mAP50 {official.map50:.4f} -> {yolo.map50:.4f}")
