"""COCO scoring against independent references: the peer's published AP, pycocotools and faster-coco-eval."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import numpy as np
import pytest

from yolopt.data.coco_ids import COCO91_TO_80, COCO_NAMES
from yolopt.data.datasets import DatasetError
from yolopt.eval import evaluate, load_predictions, make_scorer
from yolopt.results import Detections

# Published with the reference file (shared/data/README.md, section 5): Ultralytics predictions scored by pycocotools.
REF_AP = {"map50_95": 0.3932, "map50": 0.5532, "map75": 0.415,
          "map_small": 0.216, "map_medium": 0.471, "map_large": 0.560}


@pytest.fixture(scope="module")
def ref_preds(ref_path: Path) -> list[dict]:
    with gzip.open(ref_path, "rt") as f:
        return [{k: d[k] for k in ("image_id", "category_id", "bbox", "score")} for d in json.load(f)]


@pytest.fixture(scope="module")
def ours(gt_path: Path, ref_preds: list[dict]):
    return evaluate(gt_path, ref_preds)


def _pycocotools(gt_path: Path, preds: list[dict], cat_ids: list[int] | None = None):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes([dict(p) for p in preds]), "bbox")
        if cat_ids is not None:
            ev.params.catIds = cat_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev



def test_cli_scores_reference_predictions_as_published(cli, gt_path, ref_path, tmp_path):
    res = cli("val", str(gt_path.parents[1]), "--predictions", str(ref_path), "--save-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    line = next(ln for ln in res.stdout.splitlines() if ln.strip().startswith("AP50-95"))
    fields = line.split()
    printed = dict(zip(fields[::2], map(float, fields[1::2])))
    assert printed["AP50-95"] == pytest.approx(REF_AP["map50_95"], abs=5e-4)
    assert printed["AP50"] == pytest.approx(REF_AP["map50"], abs=5e-4)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key, value in REF_AP.items():
        assert metrics[key] == pytest.approx(value, abs=5e-4), key
    assert len(metrics["per_class"]) == 80 and all("ap50_95" in r and "ap50" in r for r in metrics["per_class"])
    assert metrics["images"] == 206 and metrics["instances"] == 1786 - 21  # crowd regions are not instances
    saved = json.loads((tmp_path / "predictions.json").read_text())
    with gzip.open(ref_path, "rt") as f:
        assert len(saved) == len(json.load(f))
    assert (tmp_path / "pr_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_equals_pycocotools_and_faster_coco_eval(gt_path, ref_preds, ours):
    ev = _pycocotools(gt_path, ref_preds)
    keys = ("map50_95", "map50", "map75", "map_small", "map_medium", "map_large",
            "ar1", "ar10", "ar100", "ar_small", "ar_medium", "ar_large")
    assert [getattr(ours, k) for k in keys] == pytest.approx(list(ev.stats), abs=1e-12)

    from faster_coco_eval import COCO, COCOeval_faster

    gt = COCO(str(gt_path))
    fe = COCOeval_faster(gt, gt.loadRes([dict(p) for p in ref_preds]), "bbox", print_function=lambda *a: None)
    fe.evaluate()
    fe.accumulate()
    fe.summarize()
    assert [getattr(ours, k) for k in keys] == pytest.approx(list(fe.stats[:12]), abs=1e-9)


@pytest.mark.parametrize("name", ["person", "car", "dining table", "book"])
def test_per_class_ap_equals_single_category_cocoeval(gt_path, ref_preds, ours, name):
    row = next(r for r in ours.per_class if r.name == name)
    ev = _pycocotools(gt_path, ref_preds, cat_ids=[row.category_id])
    assert row.ap50_95 == pytest.approx(ev.stats[0], abs=1e-12)
    assert row.ap50 == pytest.approx(ev.stats[1], abs=1e-12)
    assert row.ap75 == pytest.approx(ev.stats[2], abs=1e-12)


def test_precision_recall_at_best_f1_agree_with_thresholded_pycocotools(gt_path, ref_preds, ours):
    """Keep only detections at or above the best-F1 confidence: pycocotools' recall at IoU .50 is each class's R,
    and for classes without crowd regions P is that many true positives over the detections kept."""
    assert 0.0 < ours.best_conf < 1.0 and 0.0 < ours.f1 <= 1.0
    kept = [p for p in ref_preds if p["score"] >= ours.best_conf]
    ev = _pycocotools(gt_path, kept)
    gt = json.loads(gt_path.read_text())
    crowd_cats = {a["category_id"] for a in gt["annotations"] if a["iscrowd"]}
    checked = 0
    for k, cid in enumerate(ev.params.catIds):
        row = next(r for r in ours.per_class if r.category_id == cid)
        if not row.instances:
            assert row.recall is None
            continue
        assert row.recall == pytest.approx(max(ev.eval["recall"][0, k, 0, -1], 0.0), abs=1e-12), row.name
        if cid not in crowd_cats:
            n = sum(1 for p in kept if p["category_id"] == cid)
            expected = row.recall * row.instances / n if n else 1.0
            assert row.precision == pytest.approx(expected, abs=1e-9), row.name
            checked += 1
    assert checked > 50
    with_gt = [r for r in ours.per_class if r.instances]
    assert ours.precision == pytest.approx(np.mean([r.precision for r in with_gt]))
    assert ours.recall == pytest.approx(np.mean([r.recall for r in with_gt]))


def test_no_predictions_score_zero(gt_path):
    m = evaluate(gt_path, [])
    assert m.map50_95 == 0.0 and m.map50 == 0.0 and m.detections == 0


def test_predictions_for_unknown_images_are_dropped_with_a_warning(gt_path, ref_preds, tmp_path):
    extra = [{"image_id": 999999999, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(ref_preds + extra))
    preds, warnings = load_predictions(path, json.loads(gt_path.read_text()))
    assert len(preds) == len(ref_preds)
    assert len(warnings) == 1 and str(path) in warnings[0] and "999999999" in warnings[0]


def test_malformed_predictions_name_the_file(cli, gt_path, tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('[{"image_id": 139, "category_id": 1, "bbox": [1, 2, 3')
    with pytest.raises(DatasetError, match="broken.json.*malformed JSON"):
        load_predictions(bad)
    res = cli("val", str(gt_path.parents[1]), "--predictions", str(bad), "--save-dir", str(tmp_path / "out"))
    assert res.returncode == 2 and "broken.json" in res.stderr and "Traceback" not in res.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text('[{"image_id": 139, "bbox": [1, 2, 3, 4], "score": 0.5}]')
    with pytest.raises(DatasetError, match="wrong.json: entry 0"):
        load_predictions(wrong)


def test_scorer_for_detections_reproduces_reference(data_dir, gt_path, ref_preds):
    """The bench scorer takes Detections (boxes xyxy, contiguous classes): rebuilt from the reference file they
    must score as the file does, which exercises the class → category id mapping and the box conversion."""
    by_image: dict[int, list[dict]] = {}
    for p in ref_preds:
        by_image.setdefault(p["image_id"], []).append(p)
    images = json.loads(gt_path.read_text())["images"]
    dets = []
    for im in images:
        ps = by_image.get(im["id"], [])
        xywh = np.array([p["bbox"] for p in ps], np.float32).reshape(-1, 4)
        dets.append(Detections(
            str(data_dir / "coco-val" / "images" / im["file_name"]),
            boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1),
            scores=np.array([p["score"] for p in ps], np.float32),
            class_ids=np.array([COCO91_TO_80[p["category_id"]] for p in ps], np.int64),
            names=dict(enumerate(COCO_NAMES))))
    map50_95, map50 = make_scorer(gt_path)(dets)
    assert map50_95 == pytest.approx(REF_AP["map50_95"], abs=5e-4)
    assert map50 == pytest.approx(REF_AP["map50"], abs=5e-4)
