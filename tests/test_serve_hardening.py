"""`yolopt serve` against hostile and overloading clients: a real server process over 127.0.0.1, bounded loops."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from test_hostile_inputs import png_bomb
from test_serve import HOST, Server, detect, metric, request

pytest.importorskip("starlette", reason="needs yolopt[serve]")
BUNDLED = Path(__file__).resolve().parents[1] / "src" / "yolopt" / "assets" / "yolov8n.safetensors"


def server_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.fixture(scope="module")
def image(data_dir) -> bytes:
    return (data_dir / "samples" / "000000184324.jpg").read_bytes()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    srv = Server("--model", str(BUNDLED), "--imgsz", "320", "--max-megapixels", "10", "--header-timeout-s", "1",
                 "--timeout-ms", "20000", log=tmp_path_factory.mktemp("serve") / "server.log")
    yield srv
    assert srv.stop() == 0, srv.log.read_text()  # a graceful SIGTERM is a clean exit


def test_model_route_reveals_no_paths(guarded):
    status, _, body, _ = request("GET", guarded.port, "/v1/model")
    info = json.loads(body)
    assert status == 200 and info["model"] == "yolov8n.safetensors"
    assert str(BUNDLED.parent) not in body.decode()


def test_unknown_parameters_and_imgsz_are_rejected(guarded, image):
    for query in ("?imgsz=99999", "?conff=0.5", "?conf=0.5&foo=1"):
        status, _, err, _ = detect(guarded.port, image, query)
        assert status == 400 and "unknown parameter" in err["error"], (query, err)
    assert detect(guarded.port, image, "?conf=0.5")[0] == 200


def test_decompression_bomb_is_413_fast_and_small(guarded, image):
    bomb = png_bomb(32768, 32768)
    before = server_rss_mb(guarded.proc.pid)
    status, _, err, dt = detect(guarded.port, bomb, content_type="image/png")
    assert status == 413 and "megapixel" in err["error"]
    assert dt < 0.5 and server_rss_mb(guarded.proc.pid) - before < 50
    assert detect(guarded.port, image)[0] == 200


def test_half_sent_and_oversized_headers_are_cut_off(guarded):
    with socket.create_connection((HOST, guarded.port)) as s:  # headers never finished
        s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(10)
        t = time.perf_counter()
        assert s.recv(100) == b""  # closed by the server
        assert time.perf_counter() - t < 5
    before = server_rss_mb(guarded.proc.pid)

    def huge_headers(_: int) -> bytes:
        with socket.create_connection((HOST, guarded.port)) as s:
            s.settimeout(10)
            try:
                s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
                for _ in range(64):  # 4 MiB of header lines
                    s.sendall(b"X-Pad: " + b"a" * 65536 + b"\r\n")
            except OSError:
                pass  # the server closed the connection: what we want
            try:
                return s.recv(100)
            except OSError:
                return b""

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(huge_headers, range(20)))
    assert all(a == b"" or a.startswith(b"HTTP/1.1 4") for a in answers), answers
    assert server_rss_mb(guarded.proc.pid) - before < 50
    assert request("GET", guarded.port, "/health/ready")[0] == 200


def test_client_disconnects_are_counted_as_such_not_500(guarded, image):
    head = (f"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
            f"Content-Length: {len(image)}\r\n\r\n").encode()
    socks = []
    for _ in range(12):  # more than one batch: the later ones are still queued when their clients leave
        s = socket.create_connection((HOST, guarded.port))
        s.sendall(head + image)
        socks.append(s)
    time.sleep(0.05)
    for s in socks:
        s.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and metric(guarded.port, "yolopt_queue_depth").get("", 1) > 0:
        time.sleep(0.1)
    counts = metric(guarded.port, "yolopt_requests_total")
    assert not any("500" in k for k in counts), counts
    assert sum(v for k, v in counts.items() if "499" in k) >= 1, counts


@pytest.mark.slow
def test_overload_is_refused_fast_with_503_not_504(tmp_path, image):
    srv = Server("--model", str(BUNDLED), "--timeout-ms", "1500", "--max-queue", "256", log=tmp_path / "server.log")
    try:
        with ThreadPoolExecutor(48) as pool:  # a first burst: the server learns its batch times and real waits
            list(pool.map(lambda _: detect(srv.port, image, timeout=30), range(48)))
            answers = list(pool.map(lambda _: detect(srv.port, image, timeout=30), range(48)))
        codes = [a[0] for a in answers]
        refused = [a for a in answers if a[0] == 503]
        late = codes.count(504)
        assert codes.count(200) >= 1 and refused, codes
        assert late <= 0.1 * (len(codes) - codes.count(200)), codes
        assert all("retry-after" in a[1] for a in refused)
        assert sorted(a[3] for a in refused)[len(refused) // 2] < 0.5  # refused at once, not after the deadline
    finally:
        assert srv.stop() == 0, srv.log.read_text()


def test_requests_past_their_deadline_are_never_batched(image):
    """The dispatcher drops queued requests whose deadline has passed (or whose client left) before inference."""
    import asyncio
    from collections import deque

    from yolopt.detector import make_backend
    from yolopt.engine import PredictConfig
    from yolopt.serve.batcher import DynamicBatcher, _Job
    from yolopt.serve.protocol import RequestParams, prepare_bytes

    async def scenario() -> list:
        batcher = DynamicBatcher(make_backend("yolov8n"), 320, max_batch=8, max_delay_s=0.0)
        prep = prepare_bytes(image, 320)
        now = time.perf_counter()
        loop = asyncio.get_running_loop()
        params = RequestParams(PredictConfig(320), 10.0)
        jobs = [_Job(prep, params, loop.create_future(), now - 2, now - 1),  # expired while queued
                _Job(prep, params, loop.create_future(), now - 1, now + 10, abandoned=True),  # client left
                _Job(prep, params, loop.create_future(), now, now + 10)]  # live
        batcher._buckets[prep.chw.shape] = deque(jobs)
        batch = await batcher._next_batch()
        batcher._pool.shutdown()
        batcher._infer_pool.shutdown()
        return [jobs.index(j) for j in batch]

    assert asyncio.run(scenario()) == [2]
