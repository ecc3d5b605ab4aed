"""The server's dynamic batcher and request parsing, in this process (no HTTP server, no fresh interpreter)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from yolopt import Detector
from yolopt.data.decode import decode_bytes
from yolopt.data.sources import Item
from yolopt.engine import PredictConfig, detect_prepared, prepare
from yolopt.serve.batcher import DynamicBatcher
from yolopt.serve.protocol import RequestParams, ServeError, parse_params

IMGSZ = 320
NAMES = {0: "person", 1: "bicycle", 2: "car"}


def test_parse_params_reads_thresholds_and_clamps_the_deadline():
    p = parse_params({"conf": "0.5", "iou": "0.6", "max_det": "7", "classes": "0, 2", "timeout_ms": "90000"},
                     PredictConfig(), max_timeout_s=10.0, names=NAMES)
    assert p.config == PredictConfig(conf=0.5, iou=0.6, max_det=7, classes=(0, 2)) and p.timeout_s == 10.0
    assert parse_params({"conf": ""}, PredictConfig(conf=0.3), 5.0, NAMES).config.conf == 0.3  # empty: default
    assert parse_params({"timeout_ms": "250"}, PredictConfig(), 5.0, NAMES).timeout_s == 0.25


@pytest.mark.parametrize("query,reason", [
    ({"conf": "high"}, "could not convert"), ({"conf": "1.5"}, "conf must be in [0, 1]"),
    ({"iou": "-1"}, "iou must be in [0, 1]"), ({"max_det": "0"}, "max_det must be >= 1"),
    ({"max_det": "2.5"}, "invalid literal"), ({"classes": "0,x"}, "invalid literal"),
    ({"classes": "0,9"}, "classes [9] are not among the model's 3 classes"), ({"timeout_ms": "0"}, "timeout_ms"),
])
def test_parse_params_answers_400_naming_the_parameter(query, reason):
    with pytest.raises(ServeError) as e:
        parse_params(query, PredictConfig(), 5.0, NAMES)
    assert e.value.status == 400 and reason in e.value.reason


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector("yolov8n", "torch", imgsz=IMGSZ, conf=0.25)


@pytest.fixture(scope="module")
def bodies(data_dir) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((data_dir / "samples").glob("*.jpg"))}


def run_batcher(detector: Detector, requests: list[tuple[bytes, RequestParams]], **kw) -> list:
    """Send ``requests`` at once to a started batcher; each answer, or the ServeError it raised."""

    async def main() -> list:
        batcher = DynamicBatcher(detector.backend, IMGSZ, **kw)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.detect(data, params, f"req{i}")
                                          for i, (data, params) in enumerate(requests)), return_exceptions=True)
        finally:
            await batcher.close()

    return asyncio.run(main())


def test_concurrent_requests_are_batched_and_each_gets_its_own_exact_answer(detector, bodies):
    """Same-shape requests share backend calls; each answer equals the image alone with its own thresholds."""
    data = bodies["000000397133.jpg"]
    low = RequestParams(replace(detector.config, conf=0.1), 10.0)
    high = RequestParams(replace(detector.config, conf=0.6), 10.0)
    answers = run_batcher(detector, [(data, low if i % 2 else high) for i in range(8)], max_batch=8, max_delay_s=0.05)
    assert not [a for a in answers if isinstance(a, BaseException)]
    assert max(t.batch_size for _, t in answers) > 1
    alone = prepare(Item(0, "alone", image=decode_bytes(data)), IMGSZ)
    for i, (det, _) in enumerate(answers):
        ref = detect_prepared(detector.backend, [alone], (low if i % 2 else high).config)[0]  # the image on its own
        assert det.source == f"req{i}" and np.array_equal(det.boxes, ref.boxes) and np.array_equal(det.scores, ref.scores)
    assert len(answers[1][0]) > len(answers[0][0])  # the lower threshold kept more


def test_full_queue_and_bad_images_are_refused_and_the_rest_answered(detector, bodies):
    params = RequestParams(detector.config, 10.0)
    good = bodies["000000184324.jpg"]
    answers = run_batcher(detector, [(good, params), (b"\xff\xd8not a jpeg", params), (good, params), (good, params)],
                          max_queue=2, max_batch=4)
    errors = [a for a in answers if isinstance(a, ServeError)]
    assert sorted(e.status for e in errors) == [400, 503, 503]  # the bad body; two beyond the queue of 2
    assert "queue full" in next(e.reason for e in errors if e.status == 503)
    assert len(answers[0][0]) > 0  # the admitted good request was answered


def test_deadline_passes_while_queued_answers_504(detector, bodies):
    params = RequestParams(detector.config, 1e-4)
    (answer,) = run_batcher(detector, [(bodies["000000184324.jpg"], params)])
    assert isinstance(answer, ServeError) and answer.status == 504 and "timed out" in answer.reason
