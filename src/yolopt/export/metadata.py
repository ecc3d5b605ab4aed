"""What an exported model carries about itself: class names, stride, image size, input layout, producer."""

from __future__ import annotations

import ast
import json
from typing import Mapping

from ..model import YoloModel

#: How the exported graphs take their input; recorded so other tools know what to feed.
INPUT_LAYOUT = "uint8 NCHW RGB 0-255 (normalised inside the graph)"


def export_metadata(model: YoloModel, imgsz: int | None = None, half: bool = False) -> dict[str, str]:
    """String key/value metadata written into every exported file (ONNX metadata_props, OpenVINO rt_info)."""
    from .. import __version__

    return {
        "producer": "yolopt",
        "version": __version__,
        "task": "detect",
        "scale": model.spec.scale,
        "nc": str(model.spec.nc),
        "names": json.dumps({str(k): v for k, v in model.names.items()}),
        "stride": str(model.stride),
        "imgsz": str(imgsz or model.imgsz),
        "input": INPUT_LAYOUT,
        "precision": "fp16" if half else "fp32",
    }


def parse_names(meta: Mapping[str, str], nc: int | None = None) -> dict[int, str]:
    """Class names from exported metadata: yolopt's JSON, or Ultralytics' Python-literal dict; else class ids."""
    raw = meta.get("names")
    if raw:
        try:
            names = json.loads(raw)
        except json.JSONDecodeError:
            names = ast.literal_eval(raw)  # Ultralytics writes str(dict): "{0: 'person', ...}"
        return {int(k): str(v) for k, v in names.items()}
    if nc is None:
        raise ValueError("exported model has no 'names' metadata and its class count is unknown")
    return {i: str(i) for i in range(nc)}
