"""``Detections`` as supervision users expect it: selection, iteration, box formats, JSON/COCO, a failed state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yolopt import Detector
from yolopt.data.coco_ids import COCO80_TO_91
from yolopt.errors import InputError
from yolopt.io.sinks import CocoSink, YoloSink
from yolopt.results import Detections, FailedInputError


@pytest.fixture(scope="module")
def det(data_dir) -> Detections:
    d = Detector("yolov8n", "torch", imgsz=320, conf=0.1)(data_dir / "samples" / "000000397133.jpg")
    assert len(d) > 5 and len(set(d.class_ids.tolist())) > 1
    return d


def test_selection_by_mask_slice_index_and_position(det):
    strong = det[det.scores > 0.5]
    assert isinstance(strong, Detections) and len(strong) == int((det.scores > 0.5).sum())
    assert np.array_equal(strong.boxes, det.boxes[det.scores > 0.5]) and strong.source == det.source
    people = det[det.class_ids == 0]
    assert set(people.labels) <= {"person"} and len(people) == int((det.class_ids == 0).sum())
    assert np.array_equal(det[:3].scores, det.scores[:3]) and np.array_equal(det[[4, 1]].class_ids, det.class_ids[[4, 1]])
    one = det[2]
    assert len(one) == 1 and one.boxes.shape == (1, 4) and one.scores[0] == det.scores[2]
    assert len(det[det.scores > 2]) == 0 and det[det.scores > 2].ok  # nothing selected is not a failure


def test_iteration_yields_each_detection(det):
    rows = list(det)
    assert len(rows) == len(det)
    box, score, class_id, label = rows[0]
    assert np.array_equal(box, det.boxes[0]) and score == pytest.approx(float(det.scores[0]))
    assert class_id == det.class_ids[0] and label == det.names[class_id]


def test_box_formats_agree_with_the_yolo_label_writer(det, tmp_path):
    x1, y1, x2, y2 = det.boxes.T
    assert np.allclose(det.xywh, np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1))
    assert det.xyxy is det.boxes
    h, w = det.shape
    assert np.allclose(det.xyxyn * [w, h, w, h], det.boxes, atol=1e-3) and (det.xyxyn >= 0).all() and (det.xyxyn <= 1).all()
    sink = YoloSink(tmp_path)  # an independent writer of normalised cx cy w h
    sink.write(det)
    written = np.loadtxt(tmp_path / "000000397133.txt", ndmin=2)
    assert np.allclose(written[:, 1:5], det.xywhn, atol=2e-6) and np.array_equal(written[:, 0], det.class_ids)


def test_json_and_coco_forms_match_the_writers(det, tmp_path):
    assert json.loads(det.to_json()) == det.to_dict()
    coco = det.to_coco()
    assert {r["image_id"] for r in coco} == {397133}
    assert [r["category_id"] for r in coco] == [COCO80_TO_91[c] for c in det.class_ids]  # COCO's official ids
    x, y, bw, bh = coco[0]["bbox"]
    assert np.allclose([x, y, x + bw, y + bh], det.boxes[0], atol=1e-3) and coco[0]["score"] == round(float(det.scores[0]), 6)
    assert det.to_coco(image_id=7, category_ids={0: 100})[0]["image_id"] == 7
    assert {r["category_id"] for r in det.to_coco(category_ids={0: 100})} == {100}  # other classes dropped
    sink = CocoSink(tmp_path / "dets.json")  # `predict --format coco` writes exactly this
    sink.write(det)
    sink.close()
    assert json.loads((tmp_path / "dets.json").read_text()) == coco


def test_to_supervision(det):
    sv = pytest.importorskip("supervision")
    s = det.to_supervision()
    assert isinstance(s, sv.Detections) and len(s) == len(det)
    assert np.array_equal(s.xyxy, det.boxes) and np.array_equal(s.confidence, det.scores)
    assert np.array_equal(s.class_id, det.class_ids) and list(s.data["class_name"]) == det.labels
    assert len(s[s.confidence > 0.5]) == len(det[det.scores > 0.5])


def test_a_failed_input_is_not_an_empty_result(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    r = Detector("yolov8n", "torch", imgsz=320)(bad)
    assert not r.ok and len(r) == 0 and "bad.jpg" in r.error
    with pytest.raises(FailedInputError, match="bad.jpg") as e:
        r.raise_for_error()
    assert isinstance(e.value, InputError) and e.value.exit_code == 1
    assert r.to_coco() == [] and "error" in json.loads(r.to_json())
    with pytest.raises(ValueError, match="no image size"):
        r.xywhn
    good = Detections("x.jpg", shape=(10, 10))
    assert good.raise_for_error() is good and good.ok and len(good) == 0
