"""Image decoding to BGR uint8 with a clear, per-file error instead of a crash.

Resource limits come first: only regular files are read, a file larger than ``max_bytes`` is refused
before reading it, and an image whose header claims more than ``max_pixels`` is refused before decoding.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .image_size import image_size

#: Largest image decoded by default (width x height); a 1-bit PNG bomb of 1 gigapixel is ~100 KB on disk.
MAX_PIXELS = 100_000_000
#: Largest file read by default.
MAX_BYTES = 512 * 2**20


class DecodeError(InputError, ValueError):
    """An input could not be read or decoded as an image; the message names the input and the reason."""


class ImageTooLargeError(DecodeError):
    """An image (or file) above the configured pixel or size cap; refused before decoding or reading it."""


def check_pixels(data: bytes | np.ndarray, name: str, max_pixels: int | None = MAX_PIXELS) -> None:
    """Refuse an image whose header claims more than ``max_pixels`` pixels (nothing is decoded)."""
    if max_pixels is None:
        return
    size = image_size(bytes(data[:65536]) if isinstance(data, np.ndarray) else bytes(data[:65536]))
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageTooLargeError(f"{name}: image is {size[0]}x{size[1]} ({size[0] * size[1] / 1e6:.0f} megapixels), "
                                 f"above the {max_pixels / 1e6:g}-megapixel limit")


def decode_bytes(data: bytes | np.ndarray, name: str = "<bytes>", max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Decode encoded image bytes to (H, W, 3) BGR uint8, refusing images above ``max_pixels`` unread.

    OpenCV applies the EXIF orientation, expands grayscale, drops alpha, scales 16-bit to 8-bit and
    converts CMYK JPEGs, so every image reaches the network as plain 8-bit BGR.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise DecodeError(f"{name}: empty file (0 bytes)")
    check_pixels(buf, name, max_pixels)
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


def read_image(path: str | Path, max_pixels: int | None = MAX_PIXELS, max_bytes: int | None = MAX_BYTES) -> np.ndarray:
    """Read and decode an image file to (H, W, 3) BGR uint8, raising :class:`DecodeError` on any failure."""
    return decode_bytes(read_bytes(path, max_bytes), str(path), max_pixels)


def read_bytes(path: str | Path, max_bytes: int | None = MAX_BYTES) -> bytes:
    """A regular file's bytes, at most ``max_bytes`` of them; :class:`DecodeError` naming the path and reason.

    FIFOs, devices and sockets are refused without reading (a FIFO would block, ``/dev/zero`` never ends);
    the open does not block, and the size is checked on the open file, so a swapped-in file cannot slip by.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(21, "is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise DecodeError(f"{path}: not a regular file (device, FIFO or socket): refused")
            if max_bytes is not None and st.st_size > max_bytes:
                raise ImageTooLargeError(f"{path}: file is {st.st_size / 2**20:.0f} MiB, above the "
                                         f"{max_bytes / 2**20:g} MiB limit")
            data = f.read(max_bytes + 1 if max_bytes is not None else -1)
            if max_bytes is not None and len(data) > max_bytes:
                raise ImageTooLargeError(f"{path}: file grew past the {max_bytes / 2**20:g} MiB limit while read")
            return data
    except IsADirectoryError as e:
        raise DecodeError(f"{path}: is a directory") from e
    except FileNotFoundError as e:
        raise DecodeError(f"{path}: no such file") from e
    except PermissionError as e:
        raise DecodeError(f"{path}: permission denied") from e
    except OSError as e:
        raise DecodeError(f"{path}: cannot read ({e.strerror or e})") from e
