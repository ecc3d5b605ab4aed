"""Training speed side by side, in one run: yolopt vs Ultralytics' ``yolo train``, and BF16 vs FP32.

    python benchmarks/train_speed.py [--peer-python /work/peer-venv/bin/python] [--imgsz 640] [--batch 16]
                                     [--workers 2] [--steps 8] [--skip 2] [--model PATH]

1. Training with data (coco128 as YOLO labels, mosaic on, FP32, same imgsz/batch/workers): yolopt's img/s over
   steps ``skip+1..steps`` of ``yolopt train --profile`` against Ultralytics' img/s over the same batches of one
   epoch (batch-end timestamps from a callback), with yolopt's profiler verdict for FP32 and BF16.
2. Forward + backward + SGD alone on one fixed batch (no data loading): BF16 autocast vs FP32, interleaved.

Ultralytics runs in its own environment (``--peer-python``, e.g. a throwaway venv); it is never imported here, and
when that interpreter is missing the peer column is skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

PEER_SCRIPT = """
import json, sys, time
from ultralytics import YOLO
a = json.loads(sys.argv[1])
stamps = []
m = YOLO(a["model"])
m.add_callback("on_train_batch_end", lambda trainer: stamps.append(time.perf_counter()))
m.train(data=a["data"], epochs=1, imgsz=a["imgsz"], batch=a["batch"], workers=a["workers"], device="cpu",
        val=False, plots=False, amp=False, project=a["project"], name="peer", exist_ok=True, verbose=False)
print("PEER_STAMPS " + json.dumps(stamps))
"""


def yolo_copy(src: Path, out: Path) -> Path:
    """coco128 as a YOLO dataset (the one format both trainers read), with absolute paths and a val split."""
    from yolopt.data.convert import convert
    from yolopt.data.datasets import yaml_module

    rep = convert(src, out, split="train", copy_images=True)
    yaml = yaml_module()
    cfg = yaml.safe_load(rep.out.read_text())
    cfg.update(path=str(out.resolve()), val=cfg["train"])
    rep.out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return rep.out


def steady_img_s(stamps: list[float], batch: int, skip: int, steps: int) -> float:
    """Images per second between the end of batch ``skip`` and the end of batch ``steps``."""
    stamps = stamps[:steps]
    if len(stamps) <= skip:
        return float("nan")
    return batch * (len(stamps) - skip) / (stamps[-1] - stamps[skip - 1]) if skip else float("nan")


def yolopt_profile(data: Path, model: str, a: argparse.Namespace, precision: str, project: Path) -> dict:
    """``yolopt train --profile steps`` in this process; the profiler's summary (img/s after ``skip`` steps)."""
    from yolopt.train import profiler
    from yolopt.train.trainer import Trainer
    from yolopt.train.config import TrainConfig

    cfg = TrainConfig(data=str(data), model=model, epochs=1, imgsz=a.imgsz, batch=a.batch, workers=a.workers,
                      threads=a.threads, precision=precision, val=False, plots=False, project=str(project),
                      name=precision, profile=a.steps)
    tr = Trainer(cfg)
    tr.setup()
    tr.train_epoch(0, max_steps=a.steps)
    alone = profiler.measure_data_alone(tr.loader, a.steps)
    return profiler.report(tr.timer, data_alone_img_s=alone["img_per_s"], workers=a.workers, precision=precision,
                           skip=a.skip,
                           echo=lambda s: print(f"  [{precision}] {s}"))


def peer_train(python: str, data: Path, model: str, a: argparse.Namespace, project: Path) -> dict | None:
    """Ultralytics' one-epoch training in its own interpreter; img/s over the same batches, or None if absent."""
    if not Path(python).is_file():
        print(f"peer skipped: no Python at {python} (create a throwaway venv with ultralytics and pass --peer-python)")
        return None
    arg = json.dumps({"model": model, "data": str(data), "imgsz": a.imgsz, "batch": a.batch,
                      "workers": a.workers, "project": str(project)})
    t = time.perf_counter()
    p = subprocess.run([python, "-c", PEER_SCRIPT, arg], capture_output=True, text=True, cwd=project)
    line = next((s for s in p.stdout.splitlines() if s.startswith("PEER_STAMPS ")), None)
    if p.returncode or line is None:
        print(f"peer failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:] or p.stdout[-500:]}")
        return None
    stamps = json.loads(line.removeprefix("PEER_STAMPS "))
    return {"img_per_s": steady_img_s(stamps, a.batch, a.skip, a.steps), "batches": len(stamps),
            "wall_s": time.perf_counter() - t}


def step_alone(data: Path, model: str, a: argparse.Namespace, project: Path, repeats: int) -> dict[str, float]:
    """Forward + loss + backward + SGD step on one fixed batch, FP32 and BF16 autocast interleaved: img/s each."""
    from yolopt.train.config import TrainConfig
    from yolopt.train.trainer import Trainer

    cfg = TrainConfig(data=str(data), model=model, epochs=1, imgsz=a.imgsz, batch=a.batch, workers=0,
                      threads=a.threads, optimizer="SGD", augment=False, val=False, plots=False,
                      project=str(project), name="alone")
    tr = Trainer(cfg)
    tr.setup()
    batch = next(iter(tr.loader))
    img, targets = batch.img.float() / 255, batch.targets

    def step(precision: str) -> float:
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            box, cls = tr.net(img)
        loss, _ = tr.criterion(box.float(), cls.float(), targets, tuple(img.shape[2:]))
        loss.backward()
        tr.opt.step()
        tr.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t

    for p in ("fp32", "bf16"):
        step(p)  # warm-up: kernel selection, allocator
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(repeats):
        for p in ("fp32", "bf16"):
            times[p].append(step(p))
    return {p: a.batch / sorted(v)[len(v) // 2] for p, v in times.items()}  # median step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA / "coco128"), help="COCO folder (converted to YOLO labels for both)")
    ap.add_argument("--model", default=str(DATA / "weights" / "yolov8n.pt"))
    ap.add_argument("--peer-python", default="/work/peer-venv/bin/python")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8, help="training steps timed (coco128 at batch 16: one epoch)")
    ap.add_argument("--skip", type=int, default=2, help="first steps left out (worker start-up, first allocations)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved FP32/BF16 steps without data")
    ap.add_argument("--threads", type=int, default=None,
                    help="yolopt's torch threads (default: yolopt's own, torch's one per core; Ultralytics sets "
                         "cores - 1 and no workers on CPU for itself)")
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    from yolopt.bench.runner import machine

    print(f"{machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"load average {os.getloadavg()[0]:.1f} at start (shared machine)")
    print(f"settings: imgsz {a.imgsz}, batch {a.batch}, workers {a.workers}, mosaic on, steps {a.skip + 1}..{a.steps}, "
          f"yolopt --threads {a.threads or 'default'} (Ultralytics sets its threads to cores - 1 and workers to 0 "
          f"on CPU itself)")
    with tempfile.TemporaryDirectory(prefix="train_speed_") as tmp:
        tmp = Path(tmp)
        data = yolo_copy(Path(a.data), tmp / "data")
        loads = {}

        def stage(name, fn, *args):
            loads[name] = os.getloadavg()[0]
            print(f"-- {name} (load average {loads[name]:.1f})", flush=True)
            return fn(*args)

        fp32 = stage("yolopt fp32", yolopt_profile, data, a.model, a, "fp32", tmp / "runs")
        peer = None if a.no_peer else stage("ultralytics", peer_train, a.peer_python, data, a.model, a, tmp)
        bf16 = stage("yolopt bf16", yolopt_profile, data, a.model, a, "bf16", tmp / "runs")
        alone = stage("no data", step_alone, data, a.model, a, tmp / "runs", a.repeats)
    rows = [("yolopt train, FP32", f"{fp32['img_per_s']:.2f}", fp32["verdict"]),
            ("yolopt train, BF16", f"{bf16['img_per_s']:.2f}", bf16["verdict"]),
            ("Ultralytics yolo train, FP32", f"{peer['img_per_s']:.2f}" if peer else "skipped", "")]
    print("\n| run | train img/s | yolopt profiler verdict |\n|---|---:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    if peer:
        print(f"\nyolopt FP32 / Ultralytics: {fp32['img_per_s'] / peer['img_per_s']:.2f}x (target >= 1.3x)")
    print(f"forward+backward+SGD without data, batch {a.batch} at {a.imgsz}: FP32 {alone['fp32']:.2f} img/s, "
          f"BF16 {alone['bf16']:.2f} img/s: {alone['bf16'] / alone['fp32']:.2f}x (target >= 1.7x)")
    print(f"verdicts: FP32 — {fp32['diagnosis']}\n          BF16 — {bf16['diagnosis']}")
    print("load average at the start of each: " + ", ".join(f"{k} {v:.1f}" for k, v in loads.items())
          + f"; end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    sys.exit(main())
