"""Scale-out on a local Ray cluster started here: Ray Data over a folder subset, and a Ray Serve request."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytest.importorskip("ray.data", reason="needs yolopt[ray]")
pytest.importorskip("ray.serve", reason="needs yolopt[ray]")

HOST = "127.0.0.1"  # loopback only
YOLOPT = [sys.executable, "-m", "yolopt.cli"]


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _node_ip_address=HOST)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def subset(data_dir, tmp_path_factory) -> list[str]:
    """30 images from each COCO folder (mixed sizes and orientations) and one corrupt file, in a fixed order."""
    files = [*sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:30],
             *sorted((data_dir / "coco-val-extra" / "images").glob("*.jpg"))[:30]]
    bad = tmp_path_factory.mktemp("bad") / "corrupt.jpg"
    bad.write_bytes(files[0].read_bytes()[:5000])
    return [str(p) for p in files[:31]] + [str(bad)] + [str(p) for p in files[31:]]


def predict_cli(files: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*YOLOPT, "predict", *files, "--no-progress", *args], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_ray_data_writes_what_predict_writes(ray_cluster, subset, tmp_path):
    from yolopt.serve.ray_data import predict_folder

    ref = predict_cli(subset)
    assert ref.returncode == 1 and "61 inputs" in ref.stderr  # the corrupt file is reported, the rest runs
    summary = predict_folder(subset, out=tmp_path / "ray.jsonl", batch_size=8)
    assert summary.inputs == 61 and len(summary.failed) == 1 and "truncated JPEG" in summary.failed[0]
    got = (tmp_path / "ray.jsonl").read_text()
    assert got == ref.stdout  # same records, same order, same digits: identical detections and error records
    records = [json.loads(line) for line in got.splitlines()]
    assert sum(len(r.get("detections", [])) for r in records) > 200


@pytest.mark.slow
def test_ray_serve_answers_requests(ray_cluster, data_dir):
    from ray import serve

    from yolopt import Detector
    from yolopt.serve.ray_serve import build_app

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    serve.start(http_options={"host": HOST, "port": port})
    try:
        serve.run(build_app("yolov8n", max_batch=8), route_prefix="/yolo", name="yolopt")
        path = data_dir / "samples" / "000000303818.jpg"
        req = urllib.request.Request(f"http://{HOST}:{port}/yolo?conf=0.4", data=path.read_bytes(),
                                     headers={"Content-Type": "image/jpeg"})
        with urllib.request.urlopen(req, timeout=120) as resp:
            got = json.loads(resp.read())
        assert got["detections"] == Detector("yolov8n", conf=0.4)(path).to_dict()["detections"]
        assert (got["height"], got["width"]) == (640, 480)
        bad = urllib.request.Request(f"http://{HOST}:{port}/yolo", data=b"not an image",
                                     headers={"Content-Type": "application/octet-stream"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=60)
        assert err.value.code == 415
    finally:
        serve.shutdown()
