"""Load test of ``yolopt serve`` over loopback: throughput and latency percentiles at several concurrency levels.

One run measures, on the same images:

1. offline ``yolopt predict`` img/s (the baseline the server is compared with), before and after the server runs;
2. the server (started here as a subprocess on 127.0.0.1) at each closed-loop concurrency level: img/s,
   p50/p90/p99 latency, answers by status, mean batch size (from /metrics);
3. overload: closed loop at 2x the saturation concurrency, and open loop at 2x the saturated rate;
4. optionally (``--rss-requests 10000``) the server's RSS after 1,000 and after N requests;
5. optionally (``--overload-clients 150``) a closed loop of that many clients against the server's own defaults:
   the share of non-200 answers that are fast 503s, p99 of accepted requests against p50 at the highest
   ``--levels`` concurrency, and successful img/s against that level's.

Every phase is bounded by a request count and a time limit. Only 127.0.0.1 is ever contacted.

    python benchmarks/loadtest.py --limit 100 --levels 1,2,4,8 --seconds 20
    python benchmarks/loadtest.py --limit 100 --levels 2 --no-offline --no-overload --rss-requests 10000
    python benchmarks/loadtest.py --levels 50 --overload-clients 150 --no-offline --no-overload --server-args=""
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HOST = "127.0.0.1"
DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco-val" / "images"
YOLOPT = [sys.executable, "-m", "yolopt.cli"]


@dataclass
class Phase:
    """What one load phase measured."""

    name: str
    concurrency: int | str
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ok: list[float] = field(default_factory=list, repr=False)
    latencies_503: list[float] = field(default_factory=list, repr=False)
    mean_batch: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def img_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ok, q)) * 1000 if self.latencies_ok else float("nan")

    def row(self) -> str:
        st = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        return (f"| {self.name:<14} | {self.concurrency!s:>6} | {sum(self.statuses.values()):>6} | "
                f"{self.img_s:>6.2f} | {self.pct(50):>7.0f} | {self.pct(90):>7.0f} | {self.pct(99):>7.0f} | "
                f"{self.mean_batch:>5.2f} | {st} |")


HEADER = ("| phase          | conc.  |   reqs |  img/s | p50 ms  | p90 ms  | p99 ms  | batch | answers |\n"
          "|----------------|--------|--------|--------|---------|---------|---------|-------|---------|")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def offline_img_s(files: list[Path], model: str, backend: str) -> float:
    """img/s that ``yolopt predict`` reports on these files (model load excluded, as the server's warm state)."""
    res = subprocess.run([*YOLOPT, "predict", *map(str, files), "--model", model, "--backend", backend,
                          "--no-progress", "--out", os.devnull], capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    m = re.search(r"\(([\d.]+) img/s\)", res.stderr)
    assert m, res.stderr
    return float(m.group(1))


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Client:
    """Sends the images round-robin to one server and counts what it sends."""

    def __init__(self, session, port: int, images: list[bytes], retry_cap: float):  # type: ignore[no-untyped-def]
        self.session = session
        self.retry_cap = retry_cap
        self.url = f"http://{HOST}:{port}/v1/detect"
        self.images = images
        self.sent = 0
        self.on_sent: list = []  # callbacks (count) -> None, e.g. RSS samples

    async def one(self, phase: Phase) -> float:
        """Send the next image; the seconds the server asked to wait (Retry-After) when it answered 503, else 0."""
        data = self.images[self.sent % len(self.images)]
        self.sent += 1
        for cb in self.on_sent:
            cb(self.sent)
        t = time.perf_counter()
        try:
            async with self.session.post(self.url, data=data, headers={"Content-Type": "image/jpeg"}) as resp:
                await resp.read()
                status = resp.status
                retry = float(resp.headers.get("Retry-After", 0)) if status == 503 else 0.0
        except Exception as e:  # a connection failure is a failed request, not a crash of the load test
            status, retry = 0, 0.0
            if len(phase.errors) < 5:
                phase.errors.append(f"{type(e).__name__}: {e}")
        dt = time.perf_counter() - t
        phase.statuses[status] = phase.statuses.get(status, 0) + 1
        if status == 200:
            phase.latencies_ok.append(dt)
        elif status == 503:
            phase.latencies_503.append(dt)
        return retry

    async def closed_loop(self, phase: Phase, concurrency: int, max_requests: int, max_seconds: float) -> None:
        """``concurrency`` clients, each sending its next request when the previous answer arrives (after a 503,
        once it has waited Retry-After, capped at ``retry_cap`` seconds)."""
        end = time.perf_counter() + max_seconds
        budget = [max_requests]

        async def worker() -> None:
            while budget[0] > 0 and time.perf_counter() < end:
                budget[0] -= 1
                if retry := await self.one(phase):
                    await asyncio.sleep(min(retry, self.retry_cap))

        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - t

    async def open_loop(self, phase: Phase, rate: float, max_requests: int, max_seconds: float) -> None:
        """Requests arrive at ``rate`` per second whatever the answers (Poisson-free, evenly spaced)."""
        t = time.perf_counter()
        tasks = []
        n = min(max_requests, int(rate * max_seconds))
        for i in range(n):
            delay = t + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(self.one(phase)))
        await asyncio.gather(*tasks)
        phase.seconds = time.perf_counter() - t


async def scrape_batches(session, port: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(sum, count) of the server's batch-size histogram."""
    async with session.get(f"http://{HOST}:{port}/metrics") as resp:
        text = await resp.text()
    vals = dict(re.findall(r"^yolopt_batch_size_(sum|count) (\S+)$", text, re.M))
    return float(vals.get("sum", 0)), float(vals.get("count", 0))


async def run(args: argparse.Namespace, images: list[bytes], proc: subprocess.Popen, port: int) -> dict:
    import aiohttp

    phases: list[Phase] = []
    rss: dict[int, float] = {}
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=args.client_timeout)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        client = Client(session, port, images, args.retry_cap)
        marks = sorted({1000, args.rss_requests} - {0})
        client.on_sent.append(lambda n: n in marks and rss.setdefault(n, rss_mb(proc.pid)))

        async def measure(phase: Phase, coro) -> Phase:  # type: ignore[no-untyped-def]
            s0, c0 = await scrape_batches(session, port)
            await coro
            s1, c1 = await scrape_batches(session, port)
            phase.mean_batch = (s1 - s0) / (c1 - c0) if c1 > c0 else 0.0
            phases.append(phase)
            print(phase.row(), flush=True)
            return phase

        await client.closed_loop(Phase("warm-up", 2), 2, 2 * len(images[:8]), 30)
        print(HEADER, flush=True)
        levels = []
        for c in args.levels:
            p = Phase("closed", c)
            levels.append(await measure(p, client.closed_loop(p, c, args.requests, args.seconds)))
        best = max(p.img_s for p in levels)
        sat = next(p for p in levels if p.img_s >= 0.95 * best)
        result: dict = {"saturation": {"concurrency": sat.concurrency, "img_s": sat.img_s, "p50_ms": sat.pct(50)},
                        "peak_img_s": best}
        if args.overload:
            c2 = 2 * int(sat.concurrency)
            p = Phase("closed 2x conc", c2)
            await measure(p, client.closed_loop(p, c2, args.requests, args.seconds))
            q = Phase("open 2x rate", f"{2 * best:.1f}/s")  # offered load twice what the server can serve
            await measure(q, client.open_loop(q, 2 * best, args.requests, args.seconds))
            result["overload"] = [asdict_phase(p), asdict_phase(q)]
        if args.overload_clients:
            p = Phase("closed clients", args.overload_clients)
            await measure(p, client.closed_loop(p, args.overload_clients, args.requests, args.seconds))
            result["clients"] = asdict_phase(p)
            result["clients"]["fast_503"] = sum(dt < FAST_503_S for dt in p.latencies_503)
            result["clients"]["ms_503"] = {f"p{q}": float(np.percentile(p.latencies_503, q)) * 1000 if p.latencies_503
                                           else float("nan") for q in (50, 90, 99)}
            result["reference"] = asdict_phase(levels[-1])
        if args.rss_requests:
            c = int(sat.concurrency)
            left = args.rss_requests - client.sent
            p = Phase(f"rss {args.rss_requests}", c)
            if left > 0:
                await measure(p, client.closed_loop(p, c, left, args.rss_seconds))
            rss.setdefault(client.sent, rss_mb(proc.pid))
            result["rss_mb"] = rss
        result["levels"] = [asdict_phase(p) for p in levels]
        result["requests_sent"] = client.sent
        return result


FAST_503_S = 1.0  # a 503 within a tenth of the default 10 s deadline is a refusal up front, not a late 504


def asdict_phase(p: Phase) -> dict:
    d = asdict(p)
    d.pop("latencies_ok")
    d.pop("latencies_503")
    d.update(img_s=p.img_s, p50_ms=p.pct(50), p90_ms=p.pct(90), p99_ms=p.pct(99))
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="Folder of images to send.")
    ap.add_argument("--limit", type=int, default=100, help="Use the first N images (sorted).")
    ap.add_argument("--model", default="yolov8n")
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--levels", default="1,2,4,8", help="Closed-loop concurrency levels.")
    ap.add_argument("--requests", type=int, default=400, help="Most requests per phase.")
    ap.add_argument("--seconds", type=float, default=20.0, help="Longest time per phase.")
    # --max-queue is the latency bound under overload (about max-queue x service time): 2 keeps one image
    # waiting while one runs, enough to overlap decoding with inference on a 2-core machine
    ap.add_argument("--server-args", default="--max-queue 2 --max-batch 4 --max-delay-ms 5",
                    help="Extra arguments for `yolopt serve`.")
    ap.add_argument("--offline", action=argparse.BooleanOptionalAction, default=True,
                    help="Measure offline `yolopt predict` img/s on the same images (before and after).")
    ap.add_argument("--overload", action=argparse.BooleanOptionalAction, default=True,
                    help="Run the 2x overload phases.")
    ap.add_argument("--rss-requests", type=int, default=0,
                    help="Keep going until this many requests (e.g. 10000) and report RSS after 1,000 and after it.")
    ap.add_argument("--overload-clients", type=int, default=0,
                    help="Then a closed loop of this many clients (e.g. 150), judged against the last --levels one.")
    ap.add_argument("--rss-seconds", type=float, default=3600.0, help="Longest time for the RSS phase.")
    ap.add_argument("--retry-cap", type=float, default=0.25, help="Longest wait honoured after a 503 (closed loop).")
    ap.add_argument("--client-timeout", type=float, default=60.0)
    ap.add_argument("--json", type=Path, help="Also write the results here.")
    args = ap.parse_args()
    args.levels = [int(c) for c in args.levels.split(",") if c]
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        sys.exit("the load test needs aiohttp: pip install aiohttp")

    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[: args.limit]
    images = [p.read_bytes() for p in files]
    print(f"{len(files)} images from {args.images}, model {args.model}, backend {args.backend}, "
          f"{os.cpu_count()} CPUs", flush=True)
    offline = []
    if args.offline:
        offline.append(offline_img_s(files, args.model, args.backend))
        print(f"offline yolopt predict: {offline[-1]:.2f} img/s", flush=True)

    port = free_port()
    cmd = [*YOLOPT, "serve", "--host", HOST, "--port", str(port), "--model", args.model, "--backend", args.backend,
           *args.server_args.split()]
    print("server:", " ".join(cmd[2:]), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        import urllib.request

        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not become ready: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.2)
        result = asyncio.run(run(args, images, proc, port))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    if args.offline:
        offline.append(offline_img_s(files, args.model, args.backend))
        print(f"offline yolopt predict (after): {offline[-1]:.2f} img/s", flush=True)
    verdicts(result, offline)
    if args.json:
        args.json.write_text(json.dumps({"offline_img_s": offline, **result}, indent=1, default=str))


def verdicts(result: dict, offline: list[float]) -> None:
    """Print the acceptance checks against the measured figures."""
    sat = result["saturation"]
    print(f"\nsaturation: concurrency {sat['concurrency']}, {sat['img_s']:.2f} img/s, p50 {sat['p50_ms']:.0f} ms; "
          f"peak {result['peak_img_s']:.2f} img/s")
    if offline:
        base = sum(offline) / len(offline)
        ratio = result["peak_img_s"] / base
        print(f"server peak / offline predict ({', '.join(f'{v:.2f}' for v in offline)} img/s, mean {base:.2f}): "
              f"{ratio:.2f}x  [{'PASS' if ratio >= 0.85 else 'FAIL'} >= 0.85]")
    for ph in result.get("overload", []):
        bad = {k: v for k, v in ph["statuses"].items() if k not in (200, 503, 504)}
        ratio = ph["p99_ms"] / sat["p50_ms"]
        print(f"{ph['name']}: failures other than 503/504: {sum(bad.values())} "
              f"[{'PASS' if not bad else 'FAIL'}]; p99 {ph['p99_ms']:.0f} ms = {ratio:.2f}x p50 at saturation "
              f"[{'PASS' if ratio < 3 else 'FAIL'} < 3]")
    if "clients" in result:
        ph, ref = result["clients"], result["reference"]
        non_ok = sum(v for k, v in ph["statuses"].items() if k != 200)
        share = ph["fast_503"] / non_ok if non_ok else 1.0
        tail = ph["p99_ms"] / ph["p50_ms"]
        thr = ph["img_s"] / ref["img_s"] if ref["img_s"] else float("nan")
        print(f"{ph['concurrency']} clients: answers {ph['statuses']}; fast 503s (< {FAST_503_S * 1000:.0f} ms) "
              f"{ph['fast_503']} of {non_ok} non-200 = {share:.1%} [{'PASS' if share >= 0.9 else 'FAIL'} >= 90%]; "
              f"503 latency p50 {ph['ms_503']['p50']:.0f} ms, p90 {ph['ms_503']['p90']:.0f} ms, "
              f"p99 {ph['ms_503']['p99']:.0f} ms")
        sat_tail = ph["p99_ms"] / ref["p50_ms"]
        print(f"  accepted p50 {ph['p50_ms']:.0f} ms, p99 {ph['p99_ms']:.0f} ms = {tail:.2f}x its p50 "
              f"[{'PASS' if tail < 3 else 'FAIL'} < 3], {sat_tail:.2f}x the {ref['concurrency']}-client p50 "
              f"{ref['p50_ms']:.0f} ms; {ph['img_s']:.2f} img/s = {thr:.2f}x the "
              f"{ref['concurrency']}-client {ref['img_s']:.2f} img/s [{'PASS' if thr >= 0.9 else 'FAIL'} >= 0.9]")
    if "rss_mb" in result:
        rss = result["rss_mb"]
        first, last = rss.get(1000), rss[max(rss)]
        if first:
            growth = last / first - 1
            print(f"RSS after 1,000 requests {first:.0f} MiB, after {max(rss):,} {last:.0f} MiB: {growth:+.1%} "
                  f"[{'PASS' if abs(growth) <= 0.10 else 'FAIL'} within 10%]")


if __name__ == "__main__":
    main()
