"""Hostile inputs, measured: time and RSS growth to refuse each decompression/checkpoint bomb, and a folder of
broken entries accounted for entry by entry.

Each case runs in a fresh process (so its RSS growth is its own) under a 6 GiB address-space cap, against
``--src`` (default: this checkout's ``src``; point it at an older checkout to get the "before" figures):

    python benchmarks/hostile_inputs.py
    python benchmarks/hostile_inputs.py --server    # the PNG bomb sent to a `yolopt serve` process
    git archive <old-commit> src | tar -x -C /tmp/old && python benchmarks/hostile_inputs.py --src /tmp/old/src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CASES = ("png-bomb", "memo-bomb", "zip-bomb", "nested-records", "fifo", "dev-zero", "broken-folder")


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), MiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def make_input(case: str, tmp: Path) -> Path:
    """Write the hostile input of ``case`` under ``tmp`` (built before the measurement starts)."""
    from test_checkpoint_limits import checkpoint, storage_pickle
    from test_hostile_inputs import broken_folder, png_bomb

    if case == "png-bomb":
        (tmp / "bomb.png").write_bytes(png_bomb(32768, 32768))
        return tmp / "bomb.png"
    if case == "memo-bomb":
        return checkpoint(tmp / "memo.pt", b"\x80\x02}r" + struct.pack("<I", 300_000_000) + b".")
    if case == "zip-bomb":  # a 1 GiB float32 storage of zeros, deflated
        path = tmp / "zip.pt"
        n = 2**28
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", storage_pickle(n))
            info = zipfile.ZipInfo("archive/data/0")
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                chunk = b"\0" * 2**24
                for _ in range(4 * n // len(chunk)):
                    f.write(chunk)
        return path
    if case == "nested-records":
        subprocess.run([sys.executable, "-c", NESTED, str(tmp / "deep.pt")], check=True)
        return tmp / "deep.pt"
    if case == "fifo":
        os.mkfifo(tmp / "fifo.jpg")
        return tmp / "fifo.jpg"
    if case == "dev-zero":
        (tmp / "zero.jpg").symlink_to("/dev/zero")
        return tmp / "zero.jpg"
    (tmp / "folder").mkdir()
    (tmp / "folder" / "expected.json").write_text(json.dumps(broken_folder(tmp / "folder")))
    return tmp / "folder"


NESTED = """
import pickle, sys, types
mod = types.ModuleType("ultralytics.nn.modules")
for name in ("DetectionModel", "Conv"):
    setattr(mod, name, type(name, (), {"__module__": "ultralytics.nn.modules"}))
sys.modules.update({"ultralytics": types.ModuleType("ultralytics"), "ultralytics.nn": types.ModuleType("x"),
                    "ultralytics.nn.modules": mod})
leaf = mod.Conv(); leaf.__dict__.update(_parameters={}, _buffers={}, _modules={})
for _ in range(5000):
    parent = mod.Conv(); parent.__dict__.update(_parameters={}, _buffers={}, _modules={"0": leaf}); leaf = parent
top = mod.DetectionModel()
top.__dict__.update(_parameters={}, _buffers={}, _modules={"model": leaf}, yaml={"scale": "n"}, names={0: "a"})
sys.setrecursionlimit(100000)
import zipfile
with zipfile.ZipFile(sys.argv[1], "w") as zf:
    zf.writestr("archive/data.pkl", pickle.dumps({"model": top}, protocol=2))
"""


def attack(case: str, path: Path) -> str:
    """Feed ``path`` to the library call a user's command makes; the outcome in one line."""
    if case == "png-bomb":
        from yolopt.data.decode import decode_bytes

        return f"decoded {decode_bytes(path.read_bytes(), str(path)).shape}"
    if case in ("memo-bomb", "zip-bomb", "nested-records"):
        from yolopt.model import load_model

        load_model(path)
        return "loaded"
    if case in ("fifo", "dev-zero"):
        from yolopt.data.decode import read_bytes

        return f"read {len(read_bytes(path))} bytes"
    from yolopt.data.sources import iter_items
    from yolopt.engine.predictor import prepare

    expected = json.loads((path / "expected.json").read_text())
    seen: dict[str, int] = {}
    errors = 0
    for item in iter_items([path]):
        rel = os.path.relpath(item.source, path)
        seen[rel] = seen.get(rel, 0) + 1
        errors += prepare(item, 64).error is not None
    once = sum(seen.get(k) == 1 for k in expected)
    return (f"{len(expected)} entries: {once} listed exactly once, {len(seen)} distinct sources, "
            f"{sum(seen.values())} items, {errors} with an error naming the entry")


def child(case: str, path: Path) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))
    import yolopt.data.decode  # noqa: F401  (everything imported before the baseline)
    import yolopt.data.sources  # noqa: F401
    import yolopt.engine.predictor  # noqa: F401
    import yolopt.model  # noqa: F401

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = status_mb("VmRSS")
    t = time.perf_counter()
    try:
        outcome = attack(case, path)
    except BaseException as e:  # the refusal (or the crash) is the outcome
        outcome = f"{type(e).__name__}: {str(e)[:160]}"
    dt = time.perf_counter() - t
    peak = status_mb("VmHWM")
    print(json.dumps({"case": case, "seconds": round(dt, 4), "rss_growth_mb": round(max(peak - before, 0), 1),
                      "outcome": outcome}))


def server_bomb(src: Path) -> None:
    """POST the PNG bomb to a real server on 127.0.0.1: status, time, server RSS before/after, the next request."""
    from test_hostile_inputs import png_bomb
    from test_serve import Server, detect
    from test_serve_hardening import server_rss_mb

    os.environ["PYTHONPATH"] = str(src.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server("--model", "yolov8n", log=Path(tmp) / "server.log")
        try:
            img = (ROOT / "src" / "yolopt" / "assets" / "samples" / "000000184324.jpg").read_bytes()
            detect(srv.port, img)
            bomb = png_bomb(32768, 32768)
            before = server_rss_mb(srv.proc.pid)
            status, _, body, dt = detect(srv.port, bomb, content_type="image/png", timeout=120)
            after = server_rss_mb(srv.proc.pid)
            status2, _, _, dt2 = detect(srv.port, img)
            print(json.dumps({"case": "server-png-bomb", "status": status, "seconds": round(dt, 4),
                              "server_rss_mb": [round(before), round(after)], "next_request": [status2, round(dt2, 3)],
                              "answer": str(body.get("error", ""))[:120]}))
        finally:
            srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="The yolopt source tree to attack.")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--timeout", type=float, default=60.0, help="Seconds before a case counts as hung.")
    ap.add_argument("--server", action="store_true", help="Attack a `yolopt serve` process instead.")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.server:
        server_bomb(args.src)
        return
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    print(f"yolopt from {args.src}; CPU: {cpu_model()}")
    for case in args.cases.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            path = make_input(case, Path(tmp))
            size = sum(p.stat().st_size for p in [path] if p.is_file() and not p.is_symlink() and path.suffix != ".jpg")
            try:
                res = subprocess.run([sys.executable, __file__, "--child", case, str(path)], env=env,
                                     capture_output=True, text=True, timeout=args.timeout)
                row = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else \
                    {"case": case, "outcome": f"died ({res.returncode}): {res.stderr.strip()[-160:]}"}
            except subprocess.TimeoutExpired:
                row = {"case": case, "outcome": f"hung: no answer in {args.timeout:.0f} s"}
        row["input_bytes"] = size
        print(json.dumps(row))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
