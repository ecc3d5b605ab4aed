"""Measure model variants (original, pruned, ...) on each runtime with yolopt's own bench, export, quantize, val."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...model import YoloModel, save_yolopt
from .errors import PruneError
from .pruner import count

#: Runtime name → (backend, inference precision). INT8 is an NNCF-quantized IR run by OpenVINO.
RUNTIMES = {"openvino-fp32": ("openvino", "fp32"), "openvino-int8": ("openvino", "fp32"), "torch-fp32": ("torch", "fp32")}
RECOVERY_PENDING = "no recovery data: give --data and --finetune-epochs"
#: Rows the issue's report has that need the trainer; listed (empty) until those steps run.
PENDING_VARIANTS = ("pruned + fine-tuned", "pruned + fine-tuned + teacher", "pruned + fine-tuned + INT8")


@dataclass
class Variant:
    """A model to measure, or (``model`` None) a row that is listed with the reason it is ``pending``."""

    name: str
    model: YoloModel | None = None
    pending: str = ""


@dataclass
class Measure:
    """What to measure and on what: images for speed, a labelled set for mAP, images to calibrate INT8 on."""

    runtimes: tuple[str, ...] = ("openvino-fp32", "torch-fp32")
    bench: list[Path] | None = None
    val: str | Path | None = None
    calib: str | Path | None = None
    calib_images: int = 300
    imgsz: int = 640
    seconds: float = 10.0  # 0: one pass over the images
    rounds: int = 2

    def check(self) -> None:
        """Bad measurement input, found before any pruning starts."""
        from ...optional import require

        bad = [r for r in self.runtimes if r not in RUNTIMES]
        if bad:
            raise PruneError(f"runtime {bad[0]!r}: expected some of {', '.join(RUNTIMES)}")
        if any(r.startswith("openvino") for r in self.runtimes):
            require("openvino", "yolopt[openvino]", "the OpenVINO rows of the prune report")
        if "openvino-int8" in self.runtimes:
            if self.calib is None:
                raise PruneError("runtime openvino-int8 needs calibration images (--calib)")
            from ..calibration import MIN_CALIB_IMAGES, image_list
            from ..errors import QuantizeError

            try:
                n = len(image_list(self.calib))
            except QuantizeError as e:
                raise PruneError(str(e)) from e
            if n < MIN_CALIB_IMAGES:
                raise PruneError(f"calibration data {self.calib}: {n} images, at least {MIN_CALIB_IMAGES} needed")
        if self.bench is not None and not self.bench:
            raise PruneError("benchmark images: none found")
        if self.val is not None:
            self.scorer("torch")  # loads the dataset: a bad path or file fails here

    def scorer(self, backend: str) -> Any:
        from ..errors import QuantizeError
        from ..scoring import Scorer

        try:
            return Scorer(self.val, backend, self.imgsz)  # type: ignore[arg-type]
        except QuantizeError as e:
            raise PruneError(str(e)) from e


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def model_files(v: Variant, folder: Path, m: Measure, log: Callable[[str], None]) -> dict[str, Path]:
    """The file each runtime runs for a variant: FP32 safetensors, FP32 OpenVINO IR, NNCF INT8 IR."""
    from ...export import export

    base = folder / slug(v.name)
    files = {"torch-fp32": save_yolopt(v.model, base.with_suffix(".safetensors"), half=False)}  # type: ignore[arg-type]
    if any(r.startswith("openvino") for r in m.runtimes):
        files["openvino-fp32"] = export(v.model, "openvino", base.with_suffix(".xml"), imgsz=m.imgsz)  # type: ignore[arg-type]
    if "openvino-int8" in m.runtimes:
        from .. import quantize

        log(f"quantizing {v.name} to INT8 (calibration: {m.calib}) ...")
        files["openvino-int8"] = quantize(files["openvino-fp32"], m.calib, folder / f"{slug(v.name)}-int8.xml",
                                          imgsz=m.imgsz, calib_images=m.calib_images, bench=False, log=log).model
    return {r: files[r] for r in m.runtimes}


def measure(variants: list[Variant], folder: str | Path, m: Measure,
            log: Callable[[str], None] = lambda s: None) -> list[dict[str, Any]]:
    """One row per variant and runtime: params, GFLOPs at 640, file size, img/s, mAP (pending rows: the reason).

    Speed is measured as ``yolopt quantize``'s report does (the engine's default batch and streams, at least
    ``seconds`` per run), ``rounds`` times with the variants interleaved, the best of each row kept, so that rows
    are compared under the same load.
    """
    from ..report import bench_model, model_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for v in variants:
        if v.model is None:
            rows.append({"model": v.name, "runtime": "-", "pending": v.pending or RECOVERY_PENDING})
            continue
        macs, params = count(v.model.net)
        for rt, path in model_files(v, folder, m, log).items():
            rows.append({"model": v.name, "runtime": rt, "file": str(path), "params": params,
                         "gflops": round(2 * macs / 1e9, 3), "file_mb": round(model_bytes(path) / 2**20, 3)})
    live = [r for r in rows if "file" in r]
    if m.bench:
        for k in range(m.rounds):
            log(f"benchmark round {k + 1}/{m.rounds}: {len(live)} rows, {len(m.bench)} images, >= {m.seconds:g} s each ...")
            for r in live:
                backend, precision = RUNTIMES[r["runtime"]]
                s = bench_model(Path(r["file"]), backend, m.bench, m.imgsz, precision, m.seconds)
                r["batch"], r["streams"] = s["batch"], s["streams"]
                r["e2e_img_s"] = max(r.get("e2e_img_s", 0.0), s["e2e_img_s"])
                r["infer_img_s"] = max(r.get("infer_img_s", 0.0), s["infer_img_s"])
    if m.val is not None:
        scorers: dict[str, Any] = {}
        for r in live:
            backend, precision = RUNTIMES[r["runtime"]]
            scorer = scorers.setdefault(backend, m.scorer(backend))
            log(f"scoring {r['model']} ({r['runtime']}) on {m.val} ...")
            ap, metrics = scorer(r["file"], precision)
            r["map50_95"], r["map50"] = round(ap, 4), round(float(metrics.map50), 4)
    return rows
