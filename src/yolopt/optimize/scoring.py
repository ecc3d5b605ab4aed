"""mAP of a model file (or of a compiled OpenVINO model NNCF hands over) with yolopt's own val pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..backends import registry
from .errors import QuantizeError


class _CompiledBackend:
    """A Backend over an ``openvino.CompiledModel`` (what NNCF's accuracy control validates)."""

    name = "openvino"

    def __init__(self, compiled: Any, names: dict[int, str]):
        self.compiled, self.names = compiled, names
        self.request = compiled.create_infer_request()

    def infer(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self.request.infer({0: np.ascontiguousarray(images)})[0], dtype=np.float32).copy()


def detector(model: str | Path, backend: str, precision: str = "fp32", **kw: Any) -> Any:
    """A Detector for an exported file; the OpenVINO inference precision is set, ONNX files carry theirs."""
    from ..detector import Detector

    return Detector(str(model), backend, **kw, precision=precision if registry.get(backend).precision_option else None)


class Scorer:
    """``scorer(model)`` → (mAP50-95, CocoMetrics) on a labelled dataset, as ``yolopt val`` computes them."""

    def __init__(self, data: str | Path, backend: str, imgsz: int = 640, batch: int = 8):
        from ..data.datasets import DatasetError, load_dataset

        try:
            self.dataset = load_dataset(data, "val", None)
        except DatasetError as e:
            raise QuantizeError(f"validation data {data}: {e}") from e
        if not self.dataset.images:
            raise QuantizeError(f"validation data {data}: no images found")
        self.data, self.backend, self.imgsz, self.batch = data, backend, imgsz, batch

    @property
    def paths(self) -> list[Path]:
        return [r.path for r in self.dataset.images]

    def __call__(self, model: str | Path | Any, precision: str = "fp32", like: Path | None = None) -> tuple[float, Any]:
        """Score a model file, or a compiled OpenVINO model (``like``: a file with the same class names)."""
        from ..eval.coco import evaluate
        from ..eval.val import VAL_CONF, VAL_IOU, VAL_MAX_DET, class_map, predict_dataset

        compiled = not isinstance(model, (str, Path))
        det = detector(like if compiled else model, self.backend, precision, imgsz=self.imgsz, conf=VAL_CONF,
                       iou=VAL_IOU, max_det=VAL_MAX_DET, batch=self.batch)
        if compiled:
            det.backend = _CompiledBackend(model, det.backend.names)
        cat_of = class_map(self.dataset, det.names, [])
        pred = predict_dataset(self.dataset, det, cat_of, self.batch)
        if not pred.sizes:
            raise QuantizeError(f"validation data {self.data}: no image could be read")
        m = evaluate(self.dataset.ground_truth(pred.sizes, only_sized=True), pred.records, sorted(pred.sizes))
        return float(m.map50_95), m
