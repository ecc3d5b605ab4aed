"""What a detect request and its answer look like, independent of the web framework (server and Ray Serve share it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import time

import numpy as np

from ..errors import YoloptError
from ..data.decode import MAX_PIXELS, DecodeError, ImageTooLargeError
from ..data.inputs import load_input
from ..data.sources import Item
from ..engine import PredictConfig, Prepared
from ..results import Detections

# Leading bytes of the formats OpenCV decodes; anything else is answered 415 before any decoding is tried.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
) + tuple((f"P{i}".encode(), "PNM") for i in range(1, 7))

#: Query/form parameters a detect request may set; anything else is a 400 (a typo must not be silently ignored).
PARAMS = ("conf", "iou", "max_det", "classes", "timeout_ms")

# Body types taken as the encoded image itself; form-urlencoded is what ``curl --data-binary @img.jpg`` sends.
RAW_TYPES = ("image/", "application/octet-stream", "application/x-www-form-urlencoded")


class ServeError(YoloptError):
    """A request that cannot be answered with detections: HTTP status, a reason for the client, extra headers."""

    def __init__(self, status: int, reason: str, headers: Mapping[str, str] | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class RequestParams:
    """Per-request settings: the thresholds that go into NMS for this image only, and its deadline."""

    config: PredictConfig
    timeout_s: float


def image_format(data: bytes) -> str | None:
    """The image format named by the body's leading bytes, or None when it is not one we decode."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def parse_params(query: Mapping[str, str], defaults: PredictConfig, max_timeout_s: float,
                 names: Mapping[int, str]) -> RequestParams:
    """Read ``conf``, ``iou``, ``max_det``, ``classes``, ``timeout_ms`` from a request; 400 with a reason if bad
    or if it names any other parameter (``imgsz`` is fixed when the server starts)."""
    unknown = sorted(k for k in query if k not in PARAMS)
    if unknown:
        hint = " (imgsz is set when the server starts: --imgsz)" if "imgsz" in unknown else ""
        raise ServeError(400, f"unknown parameter(s) {', '.join(unknown)}{hint}; accepted: {', '.join(PARAMS)}")
    try:
        kw: dict = {}
        if (v := query.get("conf")) not in (None, ""):
            kw["conf"] = float(v)  # type: ignore[arg-type]
        if (v := query.get("iou")) not in (None, ""):
            kw["iou"] = float(v)  # type: ignore[arg-type]
        if (v := query.get("max_det")) not in (None, ""):
            kw["max_det"] = int(v)  # type: ignore[arg-type]
        if (v := query.get("classes")) not in (None, ""):
            kw["classes"] = tuple(int(c) for c in str(v).replace(" ", "").split(",") if c)
        timeout_s = max_timeout_s
        if (v := query.get("timeout_ms")) not in (None, ""):
            timeout_s = min(max_timeout_s, float(v) / 1000)  # type: ignore[arg-type]
            if timeout_s <= 0:
                raise ValueError(f"timeout_ms must be > 0, got {v}")
        config = replace(defaults, **kw)
    except ValueError as e:
        raise ServeError(400, f"bad parameter: {e}") from e
    if config.classes is not None and (bad := [c for c in config.classes if c not in names]):
        raise ServeError(400, f"bad parameter: classes {bad} are not among the model's {len(names)} classes")
    return RequestParams(config, timeout_s)


def check_content_type(content_type: str | None) -> str:
    """``"multipart"`` or ``"raw"`` for the accepted body kinds; 415 for anything else."""
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct == "multipart/form-data":
        return "multipart"
    if not ct or ct.startswith(RAW_TYPES):
        return "raw"
    raise ServeError(415, f"unsupported Content-Type {ct!r}: send the image bytes (image/* or "
                          "application/octet-stream) or multipart/form-data with a file field")


def check_image_bytes(data: bytes, name: str) -> None:
    """Refuse empty bodies (400) and bodies that are no image format we decode (415) before queueing them."""
    if not data:
        raise ServeError(400, f"{name}: empty body (0 bytes): send the encoded image")
    if image_format(data) is None:
        raise ServeError(415, f"{name}: not a supported image format (expected JPEG, PNG, BMP, TIFF, WebP, "
                              "JPEG 2000, GIF or PNM bytes)")


def prepare_bytes(data: bytes, imgsz: int, name: str = "<body>", max_pixels: int | None = MAX_PIXELS,
                  deadline: float | None = None) -> Prepared:
    """Decode and letterbox one request body exactly as ``yolopt predict`` does a file (runs in a worker thread).

    413 for an image above ``max_pixels`` (refused from its header, nothing decoded); 504 without decoding
    when the request's ``deadline`` (``time.perf_counter()``) has passed before a worker got to it.
    """
    if deadline is not None and time.perf_counter() > deadline:
        raise ServeError(504, f"{name}: timed out before decoding started (its deadline had passed)")
    try:
        inp = load_input(data, imgsz, name=name, max_pixels=max_pixels)
    except ImageTooLargeError as e:
        raise ServeError(413, str(e)) from e
    except DecodeError as e:
        return Prepared(Item(0, name), error=str(e))
    return Prepared(Item(0, name), inp.chw, inp.info)


def public_model_name(model: object) -> str:
    """How the server names its model to clients: a file's name, never the directory it was loaded from."""
    text = str(model)
    return text.replace("\\", "/").rsplit("/", 1)[-1]


def response_body(det: Detections, **extra: object) -> dict:
    """The JSON answer: ``Detections.to_dict()`` (boxes in original pixels, class names) plus server facts."""
    out = det.to_dict()
    out.pop("index", None)
    out.update(extra)
    return out


def detections_from_raw(raw: np.ndarray, prep: Prepared, config: PredictConfig,
                        names: dict[int, str]) -> Detections:
    """NMS and rescale one image's raw head output with its own request's thresholds."""
    from ..engine.predictor import postprocess_batch

    return postprocess_batch(raw, [prep], config, names)[0]
