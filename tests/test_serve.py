"""`yolopt serve` as deployed: the real server process, real HTTP over 127.0.0.1, real images."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="needs yolopt[serve]")
pytest.importorskip("uvicorn", reason="needs yolopt[serve]")
pytest.importorskip("prometheus_client", reason="needs yolopt[serve]")

HOST = "127.0.0.1"  # loopback only, never any other address
YOLOPT = [sys.executable, "-m", "yolopt.cli"]
# a graceful stop by SIGTERM (in-flight requests finished) exits 0
CLEAN_EXIT = (0,)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """A ``yolopt serve`` subprocess on a free loopback port."""

    def __init__(self, *args: str, log: Path):
        self.port = free_port()
        self.log = log
        with open(log, "wb") as f:
            self.proc = subprocess.Popen([*YOLOPT, "serve", "--host", HOST, "--port", str(self.port), *args],
                                         stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{log.read_text()}")
            try:
                if request("GET", self.port, "/health/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in 90 s:\n{log.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def request(method: str, port: int, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 60) -> tuple[int, dict, bytes, float]:
    """One HTTP request on a fresh loopback connection: status, headers (lower-case), body, seconds."""
    t = time.perf_counter()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (e.g. 413) and close before a large body is fully sent
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data, time.perf_counter() - t
    finally:
        conn.close()


def detect(port: int, data: bytes, query: str = "", content_type: str = "image/jpeg", timeout: float = 60):
    status, headers, body, dt = request("POST", port, "/v1/detect" + query, data, {"Content-Type": content_type},
                                        timeout)
    return status, headers, json.loads(body), dt


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for k, v in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{filename}"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def metric(port: int, name: str) -> dict[str, float]:
    """Every sample of one metric family from /metrics, keyed by its label string."""
    text = request("GET", port, "/metrics")[2].decode()
    out = {}
    for line in text.splitlines():
        if m := re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line):
            out[m.group(1) or ""] = float(m.group(2))
    return out


@pytest.fixture(scope="module")
def samples(data_dir) -> list[Path]:
    return sorted((data_dir / "samples").glob("*.jpg"))


@pytest.fixture(scope="module")
def predicted(cli, samples) -> dict[str, dict]:
    """What ``yolopt predict`` writes for the three samples (the reference the server must equal)."""
    res = cli("predict", *samples, "--no-progress")
    assert res.returncode == 0, res.stderr
    return {Path(r["source"]).name: r for r in map(json.loads, res.stdout.splitlines())}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # a small queue so that the overload test can fill it; 1 MiB bodies so the size limit is cheap to hit
    srv = Server("--max-queue", "4", "--max-batch", "8", "--max-body-mb", "1", "--timeout-ms", "20000",
                 log=tmp_path_factory.mktemp("serve") / "server.log")
    yield srv
    assert srv.stop() in CLEAN_EXIT, srv.log.read_text()


def test_health_model_and_metrics(server):
    assert request("GET", server.port, "/health/live")[0] == 200
    assert request("GET", server.port, "/health/ready")[0] == 200
    status, _, body, _ = request("GET", server.port, "/v1/model")
    info = json.loads(body)
    assert status == 200 and info["backend"] == "torch" and info["imgsz"] == 640
    assert info["nc"] == 80 and info["names"]["0"] == "person" and info["names"]["79"] == "toothbrush"
    status, headers, body, _ = request("GET", server.port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    for family in ("yolopt_requests_total", "yolopt_request_duration_seconds", "yolopt_queue_seconds",
                   "yolopt_batch_size", "yolopt_queue_depth", "yolopt_inference_seconds"):
        assert f"# TYPE {family} " in body.decode()


def test_detections_equal_predict(server, samples, predicted):
    for path in samples:
        ref = predicted[path.name]
        status, _, raw, _ = detect(server.port, path.read_bytes())
        assert status == 200, raw
        body, ctype = multipart({}, {"image": (path.name, path.read_bytes())})
        status, _, form, _ = detect(server.port, body, content_type=ctype)
        assert status == 200, form
        for got in (raw, form):
            assert (got["height"], got["width"]) == (ref["height"], ref["width"])
            assert got["detections"] == ref["detections"]  # boxes, scores, classes and names, exactly
            assert got["detections"] and got["detections"][0]["class_name"]
        assert form["source"] == path.name


def test_per_request_thresholds(server, samples):
    from yolopt import Detector

    path = samples[1]
    det = Detector("yolov8n", conf=0.5, iou=0.5, max_det=3, classes=[0, 2])
    expected = det(path).to_dict()["detections"]
    assert 0 < len(expected) <= 3
    status, _, got, _ = detect(server.port, path.read_bytes(), "?conf=0.5&iou=0.5&max_det=3&classes=0,2")
    assert status == 200 and got["detections"] == expected
    body, ctype = multipart({"conf": "0.5", "iou": "0.5", "max_det": "3", "classes": "0,2"},
                            {"file": (path.name, path.read_bytes())})
    status, _, got, _ = detect(server.port, body, content_type=ctype)
    assert status == 200 and got["detections"] == expected
    for bad in ("?conf=2", "?iou=x", "?max_det=0", "?classes=80", "?timeout_ms=-1"):
        status, _, err, _ = detect(server.port, path.read_bytes(), bad)
        assert status == 400 and "bad parameter" in err["error"], (bad, err)


def test_concurrent_requests_are_batched_and_exact(server, samples):
    """Four concurrent requests of one shape: they share batches, and each answer is the one it gets alone."""
    data = samples[0].read_bytes()
    alone = detect(server.port, data)[2]["detections"]
    before = metric(server.port, "yolopt_batch_size_count")[""] - metric(server.port, "yolopt_batch_size_bucket")[
        '{le="1.0"}']
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: detect(server.port, data), range(4)))
    assert [r[0] for r in results] == [200] * 4
    assert all(r[2]["detections"] == alone for r in results)
    assert max(r[2]["batch_size"] for r in results) > 1
    after = metric(server.port, "yolopt_batch_size_count")[""] - metric(server.port, "yolopt_batch_size_bucket")[
        '{le="1.0"}']
    assert after > before  # the /metrics batch-size histogram saw batches of more than one image


def test_full_queue_answers_503_fast_and_accepted_requests_succeed(server, samples, predicted):
    path = samples[2]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: detect(server.port, path.read_bytes()), range(16)))
    statuses = [r[0] for r in results]
    assert set(statuses) <= {200, 503} and statuses.count(503) >= 4 and statuses.count(200) >= 4, statuses
    for status, headers, body, dt in results:
        if status == 503:
            assert headers["retry-after"] == "1" and "queue full" in body["error"]
            assert dt < 1.0  # refused at admission, not after waiting
        else:
            assert body["detections"] == predicted[path.name]["detections"]
    assert metric(server.port, "yolopt_requests_total")['{status="503"}'] >= 4
    assert metric(server.port, "yolopt_queue_depth")[""] == 0


def test_bad_bodies_get_4xx_with_a_reason_and_server_stays_healthy(server, samples):
    good = samples[0].read_bytes()
    cases = [
        (b"", "image/jpeg", 400, "empty body"),
        (good[: len(good) // 2], "image/jpeg", 400, "truncated JPEG"),
        (good[:2] + os.urandom(4000), "application/octet-stream", 400, "<body>"),
        (b"GIF89a" + b"\0" * 50, "image/gif", 400, "not a decodable image"),
        (os.urandom(3000).replace(b"\xff", b"\0"), "application/octet-stream", 415, "not a supported image format"),
        (b"hello", "text/plain", 415, "unsupported Content-Type"),
        (b'{"image": "x"}', "application/json", 415, "unsupported Content-Type"),
        (good * 10, "image/jpeg", 413, "--max-body-mb"),
    ]
    for body, ctype, code, reason in cases:
        status, _, err, _ = detect(server.port, body, content_type=ctype)
        assert status == code and reason in err["error"], (code, reason, err)
    # a declared body far over the limit is refused before it is sent (no body follows these headers)
    with socket.create_connection((HOST, server.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                     b"Content-Length: 3000000000\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):  # the server closes after answering
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"max-body-mb" in answer
    form, ctype = multipart({"conf": "0.3"}, {})
    status, _, err, _ = detect(server.port, form, content_type=ctype)
    assert status == 400 and "no file" in err["error"]
    status, _, err, _ = detect(server.port, b"--x\r\ngarbage", content_type="multipart/form-data; boundary=x")
    assert status == 400 and "multipart" in err["error"]
    status, headers, err, _ = detect(server.port, good, "?timeout_ms=1")  # decoding alone takes longer than 1 ms
    assert status == 503 and "deadline" in err["error"] and int(headers["retry-after"]) >= 1  # refused up front
    assert request("GET", server.port, "/health/ready")[0] == 200
    status, _, ok, _ = detect(server.port, good)
    assert status == 200 and ok["detections"]


@pytest.mark.slow
def test_sigterm_during_load_completes_in_flight_requests(samples, predicted, tmp_path):
    srv = Server("--max-batch", "4", log=tmp_path / "server.log")
    path = samples[0]
    n = 24
    try:
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(detect, srv.port, path.read_bytes()) for _ in range(n)]
            deadline = time.monotonic() + 30

            def admitted() -> tuple[float, float]:  # (queued or in flight, already answered)
                return (metric(srv.port, "yolopt_queue_depth")[""],
                        sum(metric(srv.port, "yolopt_requests_total").values()))

            while sum(counts := admitted()) < n and time.monotonic() < deadline:
                time.sleep(0.02)  # every request has reached the batcher: SIGTERM must let them all finish
            srv.proc.send_signal(signal.SIGTERM)
            results = [f.result() for f in futures]
        assert counts[0] > 0, "every request was answered before SIGTERM: nothing was in flight"
        assert srv.proc.wait(60) in CLEAN_EXIT, srv.log.read_text()
    finally:
        srv.stop()
    assert [r[0] for r in results] == [200] * n
    assert all(r[2]["detections"] == predicted[path.name]["detections"] for r in results)
    with pytest.raises(OSError):  # it no longer listens
        request("GET", srv.port, "/health/live", timeout=2)
    assert "Application shutdown complete" in srv.log.read_text()


def test_model_that_cannot_load_is_reported_and_exits_nonzero():
    res = subprocess.run([*YOLOPT, "serve", "--host", HOST, "--port", str(free_port()), "--model", "/no/such.pt"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "cannot load model '/no/such.pt'" in res.stderr
