"""The batch engine: ordering, bounded buckets, early stop, failures surfaced, queue accounting."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from yolopt import Detector
from yolopt.engine.bucketing import ShapeBucketer
from yolopt.errors import InputError


def test_bucketer_releases_full_and_oversized_pending():
    b: ShapeBucketer[int] = ShapeBucketer(batch=3, max_pending=4)
    assert b.add("a", 1) == [] and b.add("b", 2) == [] and b.add("a", 3) == []
    assert b.add("a", 4) == [[1, 3, 4]]  # bucket full
    assert b.add("c", 5) == [] and b.add("b", 6) == [] and b.add("c", 7) == []
    released = b.add("d", 8)  # 5 pending > 4: largest bucket goes first
    assert released == [[2, 6]] and b.pending == 3
    assert sorted(map(sorted, b.drain())) == [[5, 7], [8]] and b.pending == 0


def test_results_in_input_order_with_mixed_shapes_and_failures(data_dir, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    imgs = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:20]
    sources = [*imgs[:7], bad, *imgs[7:]]
    det = Detector("yolov8n", batch=4, workers=2)
    engine = det.engine()
    out = list(engine.run(sources))
    assert [r.source for r in out] == [str(s) for s in sources]
    assert [r.index for r in out] == list(range(len(sources)))
    assert out[7].error and all(r.ok for i, r in enumerate(out) if i != 7)
    with pytest.raises(InputError, match="bad.jpg"):
        out[7].raise_for_error()  # a failed input is not "no objects"
    assert len({r.shape for r in out if r.ok}) > 1
    names = [q.name for q in engine.queue_stats]
    assert names == ["decoded", "batches", "outputs"]
    assert engine.queue_stats[1].items == engine.queue_stats[2].items > 0


def test_one_detector_shared_by_threads_gives_each_run_its_own_results(data_dir):
    """No per-run state on the Detector: concurrent predict() calls and det(image) agree with a serial run."""
    imgs = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:6]
    det = Detector("yolov8n", batch=2, workers=1)
    serial = [r.scores for r in det.predict(imgs)]
    runs: dict[int, list] = {}

    def run(k: int) -> None:
        runs[k] = [r.scores for r in det.predict(imgs[::-1] if k else imgs)]

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], serial))
    assert all(np.array_equal(a, b) for a, b in zip(runs[1], serial[::-1]))

    started: list[str] = []
    threading.settrace(lambda frame, event, arg: started.append(threading.current_thread().name))
    try:
        single = det(imgs[0])  # one image: runs here, no pipeline threads
    finally:
        threading.settrace(None)  # type: ignore[arg-type]
    assert started == [] and np.array_equal(single.scores, serial[0]) and single.source == str(imgs[0])


def test_bad_arguments_fail_before_any_model_is_loaded():
    for kw, match in (({"imgsz": 650}, "multiple of 32"), ({"conf": 2.0}, "conf"), ({"batch": 0}, "batch"),
                      ({"classes": [-1]}, "classes"), ({"workers": 0}, "workers")):
        with pytest.raises(ValueError, match=match):
            Detector("/no/such/model.pt", **kw)  # the argument's error, not the missing file's


def test_arrays_and_early_stop_leave_no_threads(data_dir):
    import cv2

    img = cv2.imread(str(data_dir / "samples" / "000000397133.jpg"))
    det = Detector("yolov8n", batch=2)
    r = det(img)
    assert r.ok and len(r) > 0 and r.source == "array0"
    before = threading.active_count()
    gen = det.predict([data_dir / "samples" / "car-detection.mp4"])
    first = [next(gen) for _ in range(3)]
    gen.close()  # stop mid-video: the pipeline's threads must end
    assert [f.frame for f in first] == [0, 1, 2]
    assert threading.active_count() <= before


def test_backend_failure_is_raised_not_swallowed(data_dir):
    det = Detector("yolov8n")

    def broken(images: np.ndarray) -> np.ndarray:
        raise RuntimeError("device lost")

    det.backend.infer = broken  # a real failure mode: the runtime dies mid-job
    with pytest.raises(RuntimeError, match="device lost"):
        list(det.predict([data_dir / "samples"]))


def test_openvino_inference_threads_keep_results_exact(data_dir):
    """Several inference threads (one per OpenVINO stream) and any batch give every image the same bits."""
    imgs = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:48]
    det = Detector("yolov8n", "openvino", conf=0.001)
    assert det.backend.concurrency >= 1
    one = {r.source: r for r in det.predict(imgs, batch=1)}
    shuffled = imgs[::-1]
    out = list(det.predict(shuffled, batch=5))
    assert [r.source for r in out] == [str(p) for p in shuffled]  # input order, whatever thread finished first
    for r in out:
        ref = one[r.source]
        assert np.array_equal(r.boxes, ref.boxes) and np.array_equal(r.scores, ref.scores), r.source
        assert np.array_equal(r.class_ids, ref.class_ids), r.source


def test_batch_auto_picks_a_measured_size_within_memory():
    from yolopt.engine.autobatch import CANDIDATES, auto_batch

    det = Detector("yolov8n", batch="auto", imgsz=320)
    assert det.resolve_batch() in CANDIDATES and det.resolve_batch("auto") == det.resolve_batch()  # measured once
    # with (almost) no memory to spare, nothing beyond the first size is tried
    assert auto_batch(det.backend, (320, 320), memory_fraction=1e-9, seconds=0.05) == 1
    with pytest.raises(ValueError, match="batch"):
        Detector("yolov8n", batch=0)
