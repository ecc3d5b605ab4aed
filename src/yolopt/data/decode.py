"""Image decoding to BGR uint8 with a clear, per-file error instead of a crash."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class DecodeError(ValueError):
    """An input could not be read or decoded as an image; the message names the input and the reason."""


def decode_bytes(data: bytes | np.ndarray, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to (H, W, 3) BGR uint8.

    OpenCV applies the EXIF orientation, expands grayscale, drops alpha, scales 16-bit to 8-bit and
    converts CMYK JPEGs, so every image reaches the network as plain 8-bit BGR.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise DecodeError(f"{name}: empty file (0 bytes)")
    if _truncated_jpeg(buf):
        raise DecodeError(f"{name}: truncated JPEG (image data ends before the end-of-image marker)")
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as e:
        raise DecodeError(f"{name}: cannot decode image ({str(e).strip().splitlines()[-1]})") from e
    if img is None:
        raise DecodeError(f"{name}: not a decodable image (unknown format, truncated or corrupt data)")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise DecodeError(f"{name}: image too small ({img.shape[1]}x{img.shape[0]})")
    return img


def _truncated_jpeg(buf: np.ndarray) -> bool:
    """A JPEG whose last scan has no end-of-image marker after it was cut short (libjpeg would grey-fill it)."""
    if buf.size < 4 or buf[0] != 0xFF or buf[1] != 0xD8:
        return False
    data = buf.tobytes()
    sos = data.rfind(b"\xff\xda")
    return sos >= 0 and data.find(b"\xff\xd9", sos) < 0


def read_image(path: str | Path) -> np.ndarray:
    """Read and decode an image file to (H, W, 3) BGR uint8, raising :class:`DecodeError` on any failure."""
    return decode_bytes(read_bytes(path), str(path))


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, with a :class:`DecodeError` naming the path and the reason when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except IsADirectoryError as e:
        raise DecodeError(f"{path}: is a directory") from e
    except FileNotFoundError as e:
        raise DecodeError(f"{path}: no such file") from e
    except PermissionError as e:
        raise DecodeError(f"{path}: permission denied") from e
    except OSError as e:
        raise DecodeError(f"{path}: cannot read ({e.strerror or e})") from e
