"""Dataset file I/O with errors that name the file: JSON (plain or gzipped), YAML, image sizes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import YoloptError


class DatasetError(YoloptError, ValueError):
    """A dataset that cannot be evaluated; the message names the file and the reason."""


def read_json(path: str | Path) -> Any:
    """Parse a JSON file (``.json`` or ``.json.gz``), raising :class:`DatasetError` naming it on any problem."""
    import gzip

    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None


def yaml_module() -> Any:
    """PyYAML, imported on first use (it is an optional dependency)."""
    from ..optional import require

    return require("yaml", "yolopt[eval]", "YOLO data.yaml files")


def read_yaml(path: Path) -> dict:
    """A YAML mapping file, with :class:`DatasetError` naming it when it is missing or malformed."""
    yaml = yaml_module()
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: malformed YAML: {e}") from None
    if not isinstance(cfg, dict):
        raise DatasetError(f"{path}: expected a mapping with path/train/val/names")
    return cfg


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image as the decoder delivers it (EXIF orientation applied)."""
    try:
        from PIL import Image
    except ImportError:  # the decoder answers too, decoding the whole image
        from .decode import read_image

        h, w = read_image(path).shape[:2]
        return h, w
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception as e:  # PIL raises many types for bad files
        raise DatasetError(f"{path}: cannot read image size ({e})") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def few(items: Any, n: int = 5) -> str:
    """'a, b, c, ... (+7 more)': the first few of a list, for messages."""
    items = [str(i) for i in items]
    more = f", ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
