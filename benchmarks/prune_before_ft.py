"""Issue #12: mAP of yolov8n right after pruning (no fine-tuning), per importance, ratio and compensation.

    python benchmarks/prune_before_ft.py SPEC [SPEC ...] [--every 4] [--threads 1]

Each SPEC is ``importance:amount:stats:scope[:steps]``: ``amount`` < 0.5 is a per-layer ratio, else a MACs
target; ``stats`` ``c`` measures BN unfolding / bias-compensation statistics (and taylor's gradients) on 32
coco128 images, ``r`` also re-fits every conv to the original's outputs on them, ``n`` prunes without; ``scope``
``g`` global, ``l`` per-layer or ``s`` sensitivity-allocated (MACs targets only). Scores every ``--every``-th
coco-val image (official GT) with the torch backend at 640. Example:
``python benchmarks/prune_before_ft.py l1:0.02:n:l l1:0.02:c:l taylor:0.1:c:l taylor:0.7:c:g l1:0.7:r:s``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from yolopt.eval import val
from yolopt.optimize.prune.pruner import prune, stat_batches
from yolopt.optimize.prune.taylor import labelled_batches

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def subset(every: int, root: Path) -> Path:
    """Every ``every``-th coco-val image (by id) with its official annotations, as a COCO folder."""
    gt = json.loads((DATA / "coco-val" / "annotations" / "instances_val2017_subset.json").read_text())
    gt["images"] = sorted(gt["images"], key=lambda r: r["id"])[::every]
    ids = {r["id"] for r in gt["images"]}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in ids]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_val2017_subset.json").write_text(json.dumps(gt))
    (root / "images").symlink_to(DATA / "coco-val" / "images")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = DATA / "weights" / "yolov8n.pt"
    stats = stat_batches(DATA / "coco128" / "images", 640, 32)
    labelled = labelled_batches(DATA / "coco128", 640, 32, 8)
    with tempfile.TemporaryDirectory() as tmp:
        data = subset(a.every, Path(tmp) / "val")
        base = val(data, str(model), backend="torch", plots=False).metrics.map50_95
        print(f"unpruned: mAP50-95 {base:.4f}", flush=True)
        for spec in a.specs:
            imp, amount, st, scope, *steps = spec.split(":")
            kw = dict(ratio=float(amount)) if float(amount) < 0.5 else dict(target_macs=float(amount))
            t0 = time.perf_counter()
            res = prune(model, importance=imp, global_pruning=scope == "g", sensitivity=scope == "s", steps=int(steps[0]) if steps else 1,
                        batches=stats if st in "cr" else None, refit=st == "r",
                        labelled=labelled, log=print, **kw)
            ap50_95 = val(data, res.model, backend="torch", plots=False).metrics.map50_95
            print(f"{spec}: MACs {res.macs_fraction:.3f}, ratio {res.ratio:.3f}, mAP50-95 {ap50_95:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
