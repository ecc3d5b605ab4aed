"""YOLOv8 network, checkpoint I/O and model resolution."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError, YoloptError
from .hub import BUNDLED, OFFICIAL, download
from .io import YoloModel, build, load_yolopt, save_yolopt
from .ultralytics_ckpt import UnsafeCheckpointError, load_ultralytics
from .yolo import SCALES, ModelSpec, YOLOv8

DEFAULT_MODEL = "yolov8n"


def load_model(model: str | Path = DEFAULT_MODEL) -> YoloModel:
    """Load a model from a name (``yolov8n`` is bundled; others download), a ``.pt`` or a ``.safetensors`` file."""
    if isinstance(model, YoloModel):
        return model
    key = str(model)
    if key in BUNDLED and not Path(key).exists():
        return load_yolopt(BUNDLED[key])
    if key in OFFICIAL and not Path(key).exists():
        key = str(download(key))
    path = Path(key)
    if not path.exists():
        raise FileNotFoundError(f"model {model!r}: no such file, and not a known model name ({', '.join(OFFICIAL)})")
    if path.suffix not in (".safetensors", ".pt"):
        raise ValueError(f"model {model!r}: unsupported file type {path.suffix!r} (expected .pt or .safetensors)")
    try:
        return _load_file(path)
    except YoloptError:
        raise
    except Exception as e:  # a corrupt or hostile file fails in many library-specific ways: name it once
        reason = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        if isinstance(e, RecursionError):
            reason = "nested too deeply"
        raise ModelError(f"{path}: cannot load model ({type(e).__name__}: {reason})") from e


def _load_file(path: Path) -> YoloModel:
    if path.suffix == ".safetensors":
        return load_yolopt(path)
    ck = load_ultralytics(path)
    imgsz = ck.train_args.get("imgsz", 640)
    return build(ck.scale, ck.names, ck.state_dict, imgsz=int(imgsz) if isinstance(imgsz, int) else 640,
                 meta={"source": path.name, **ck.meta})


__all__ = [
    "DEFAULT_MODEL", "SCALES", "ModelSpec", "UnsafeCheckpointError", "YOLOv8", "YoloModel",
    "build", "load_model", "load_ultralytics", "load_yolopt", "save_yolopt",
]
