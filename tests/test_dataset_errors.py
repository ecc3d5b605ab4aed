"""Bad datasets give errors or warnings that name the file; an image without labels is a valid negative."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
from pathlib import Path

import pytest

from yolopt.data.convert import coco_to_yolo
from yolopt.data.datasets import DatasetError, load_dataset
from yolopt.eval import val

IMAGES = ["000000000139.jpg", "000000000802.jpg", "000000058636.jpg", "000000397133.jpg"]  # 58636 has no objects



@pytest.fixture()
def coco_ds(data_dir: Path, tmp_path: Path) -> Path:
    """A 4-image COCO dataset (real images linked, official annotations of those images)."""
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    gt = json.loads((data_dir / "coco-val" / "annotations" / "instances_val2017_subset.json").read_text())
    gt["images"] = [im for im in gt["images"] if im["file_name"] in IMAGES]
    ids = {im["id"] for im in gt["images"]}
    assert len(ids) == len(IMAGES)
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in ids]
    (root / "annotations" / "instances_val.json").write_text(json.dumps(gt))
    for name in IMAGES:
        (root / "images" / name).symlink_to(data_dir / "coco-val" / "images" / name)
    return root


@pytest.fixture()
def yolo_ds(coco_ds: Path, tmp_path: Path) -> Path:
    out = tmp_path / "yolo"
    coco_to_yolo(coco_ds / "annotations" / "instances_val.json", out)
    return out


@pytest.fixture(scope="module")
def ref_preds(data_dir: Path) -> Path:
    return data_dir / "reference" / "coco-val_yolov8n_ultralytics_conf0.001.json.gz"


def _stats(gt: dict, preds: list[dict], img_ids: list[int]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes([dict(p) for p in preds]), "bbox")
        ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return list(ev.stats)


# ------------------------------------------------------------------------------------------------ COCO


def test_malformed_json_names_the_file(cli, coco_ds, ref_preds):
    ann = coco_ds / "annotations" / "instances_val.json"
    ann.write_text(ann.read_text()[:5000])
    res = cli("val", str(coco_ds), "--predictions", str(ref_preds), "--save-dir", str(coco_ds / "out"))
    assert res.returncode == 2
    assert str(ann) in res.stderr and "malformed JSON at line 1" in res.stderr and "Traceback" not in res.stderr


def test_json_without_annotations_is_an_error(coco_ds):
    ann = coco_ds / "annotations" / "instances_val.json"
    gt = json.loads(ann.read_text())
    del gt["annotations"]
    ann.write_text(json.dumps(gt))
    with pytest.raises(DatasetError, match=r"instances_val.json: no 'annotations' list"):
        load_dataset(coco_ds)


def test_annotation_with_unknown_category_names_file_and_annotation(coco_ds):
    ann = coco_ds / "annotations" / "instances_val.json"
    gt = json.loads(ann.read_text())
    gt["annotations"][3]["category_id"] = 12  # 12 is not a COCO category id
    ann.write_text(json.dumps(gt))
    ann_id = gt["annotations"][3]["id"]
    with pytest.raises(DatasetError, match=rf"instances_val.json: annotation {ann_id} has category id 12"):
        load_dataset(coco_ds)


def test_missing_image_is_warned_and_left_out(coco_ds, yolov8n_pt, tmp_path):
    (coco_ds / "images" / "000000000802.jpg").unlink()
    res = val(coco_ds, yolov8n_pt, batch=2, save_dir=tmp_path / "out")
    assert any("000000000802.jpg" in w and "not found" in w for w in res.warnings)
    assert res.metrics.images == 3 and any("000000000802.jpg" in s for s in res.skipped)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["images"] == 3 and saved["skipped_images"] and saved["speed_ms_per_image"]["inference"] > 0
    # Scored exactly as pycocotools scores the saved predictions over the three present images.
    gt = json.loads((coco_ds / "annotations" / "instances_val.json").read_text())
    preds = json.loads((tmp_path / "out" / "predictions.json").read_text())
    ids = [im["id"] for im in gt["images"] if im["file_name"] != "000000000802.jpg"]
    assert res.metrics.map50_95 == pytest.approx(_stats(gt, preds, ids)[0], abs=1e-12)


def test_no_images_at_all_is_an_error(coco_ds):
    for p in (coco_ds / "images").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match="none of its 4 images found"):
        load_dataset(coco_ds)


def test_categories_the_model_lacks_name_the_json(cli, coco_ds, data_dir):
    res = cli("val", str(coco_ds), "--model", str(data_dir / "weights" / "yolov8n-nc3-random.pt"),
              "--save-dir", str(coco_ds / "out"))
    assert res.returncode == 2 and "instances_val.json" in res.stderr
    assert "class names differ" in res.stderr and "among the model's 3 ('helmet'" in res.stderr and "Traceback" not in res.stderr


# ------------------------------------------------------------------------------------------------ YOLO


def test_label_class_beyond_model_classes_names_the_label_file(cli, yolo_ds, data_dir):
    res = cli("val", str(yolo_ds / "data.yaml"), "--model", str(data_dir / "weights" / "yolov8n-nc3-random.pt"),
              "--save-dir", str(yolo_ds / "out"))
    assert res.returncode == 2, res.stderr
    assert "labels/val/0000000" in res.stderr and ".txt: class" in res.stderr
    assert "beyond the model's 3 classes" in res.stderr


def test_pixel_coordinates_are_an_error_naming_file_and_line(yolo_ds):
    label = yolo_ds / "labels" / "val" / "000000000139.txt"
    lines = label.read_text().splitlines()
    lines[2] = "0 320 200 40 80"
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"000000000139.txt:3: box .* outside the image.*normalised"):
        load_dataset(yolo_ds / "data.yaml")


@pytest.mark.parametrize("line, message", [
    ("80 0.5 0.5 0.1 0.1", r"000000000139.txt:2: class 80 is beyond the dataset's 80 classes"),
    ("-1 0.5 0.5 0.1 0.1", r"000000000139.txt:2: class -1 is not a class index"),
    ("person 0.5 0.5 0.1 0.1", r"000000000139.txt:2: not numbers"),
    ("0 0.5 0.5 0.1 0.1 0.9", r"000000000139.txt:2: 6 values"),
    ("0 0.5 0.5 0.1", r"000000000139.txt:2: 4 values"),
])
def test_bad_label_lines_name_file_and_line(yolo_ds, line, message):
    label = yolo_ds / "labels" / "val" / "000000000139.txt"
    lines = label.read_text().splitlines()
    lines[1] = line
    label.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=message):
        load_dataset(yolo_ds / "data.yaml")


def test_polygon_labels_become_boxes_and_small_overflow_is_clipped(yolo_ds):
    label = yolo_ds / "labels" / "val" / "000000000139.txt"
    label.write_text("0 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n1 0.5 0.5 1.004 0.2\n")
    ds = load_dataset(yolo_ds / "data.yaml")
    lab = ds.labels[[r.file_name for r in ds.images].index("000000000139.jpg")]
    assert lab[0].tolist() == pytest.approx([0, 0.2, 0.4, 0.2, 0.4])
    assert lab[1].tolist() == pytest.approx([1, 0.5, 0.5, 1.0, 0.2])
    assert any("000000000139.txt" in w and "clipped" in w for w in ds.warnings)


def test_images_without_labels_are_negatives(yolo_ds, ref_preds):
    """An empty or missing label file warns (naming it) and the image is scored as one with no objects."""
    (yolo_ds / "labels" / "val" / "000000000802.txt").unlink()
    res = val(yolo_ds / "data.yaml", predictions=ref_preds)
    assert any("000000000802.txt" in w and "no label file" in w for w in res.warnings)
    assert any("000000058636.txt" in w and "empty" in w for w in res.warnings)
    assert res.metrics.images == 4
    gt = res.dataset.ground_truth()
    assert not [a for a in gt["annotations"] if a["image_id"] in (802, 58636)]
    with gzip.open(ref_preds, "rt") as f:
        preds = [p for p in json.load(f) if p["image_id"] in {im["id"] for im in gt["images"]}]
    assert any(p["image_id"] == 802 for p in preds)  # its detections count as false positives
    assert res.metrics.map50_95 == pytest.approx(_stats(gt, preds, [im["id"] for im in gt["images"]])[0], abs=1e-12)


def test_no_label_files_at_all_is_an_error(yolo_ds):
    for p in (yolo_ds / "labels" / "val").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match="no label files for any of the 4 'val' images"):
        load_dataset(yolo_ds / "data.yaml")


def test_bad_data_yaml_names_the_file(yolo_ds):
    cfg = yolo_ds / "data.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("val: images/val", "test: images/val"))
    with pytest.raises(DatasetError, match=r"data.yaml: no 'val' split \(has: test\)"):
        load_dataset(cfg)
    cfg.write_text("names: [a, b\nval: [")
    with pytest.raises(DatasetError, match="data.yaml: malformed YAML"):
        load_dataset(cfg)
    cfg.write_text(text.replace("nc: 80", "nc: 3"))
    with pytest.raises(DatasetError, match="data.yaml: nc is 3 but 'names' has 80 entries"):
        load_dataset(cfg)


def test_unreadable_image_is_reported_and_left_out(yolo_ds, yolov8n_pt):
    """A corrupt image in a YOLO dataset: a warning naming it, and the rest is scored without it (its size
    cannot be read, so it must not reach the ground truth either)."""
    bad = yolo_ds / "images" / "val" / "000000000802.jpg"
    bad.unlink()
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    res = val(yolo_ds / "data.yaml", yolov8n_pt, batch=4)
    assert any("000000000802.jpg" in w and "could not be read" in w for w in res.warnings)
    assert res.metrics.images == 3 and any("000000000802.jpg" in s for s in res.skipped)
