"""An encoded image's width and height read from its header, before anything is decoded.

Lets a caller refuse a decompression bomb (a few KB of PNG that decodes to gigabytes) for the price of
reading a few bytes. Covers the formats OpenCV decodes here: PNG, JPEG, GIF, BMP, WebP, PNM, TIFF, JPEG 2000.
"""

from __future__ import annotations

import re
import struct


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header, or None when the format or header is not recognised."""
    try:
        for reader in (_png, _gif, _bmp, _webp, _pnm, _tiff, _jp2, _jpeg):
            size = reader(data)
            if size is not None:
                return size
    except (struct.error, ValueError, IndexError):
        return None
    return None


def _png(d: bytes) -> tuple[int, int] | None:
    if d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR":
        return struct.unpack(">II", d[16:24])
    return None


def _gif(d: bytes) -> tuple[int, int] | None:
    return struct.unpack("<HH", d[6:10]) if d[:6] in (b"GIF87a", b"GIF89a") else None


def _bmp(d: bytes) -> tuple[int, int] | None:
    if d[:2] != b"BM":
        return None
    if struct.unpack("<I", d[14:18])[0] == 12:  # OS/2 core header
        return struct.unpack("<HH", d[18:22])
    w, h = struct.unpack("<ii", d[18:26])
    return abs(w), abs(h)


def _webp(d: bytes) -> tuple[int, int] | None:
    if d[:4] != b"RIFF" or d[8:12] != b"WEBP":
        return None
    chunk = d[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(d[24:27], "little") + 1
        h = int.from_bytes(d[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        b = int.from_bytes(d[21:25], "little")
        return (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", d[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


_PNM = re.compile(rb"^P[1-7](?:\s+|#[^\n]*\n)*(\d+)(?:\s+|#[^\n]*\n)+(\d+)")


def _pnm(d: bytes) -> tuple[int, int] | None:
    m = _PNM.match(d[:1024])
    return (int(m.group(1)), int(m.group(2))) if m else None


def _tiff(d: bytes) -> tuple[int, int] | None:
    if d[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    e = "<" if d[:2] == b"II" else ">"
    ifd = struct.unpack(e + "I", d[4:8])[0]
    n = struct.unpack(e + "H", d[ifd : ifd + 2])[0]
    tags: dict[int, int] = {}
    for i in range(n):
        tag, typ, _count, raw = struct.unpack(e + "HHI4s", d[ifd + 2 + 12 * i : ifd + 14 + 12 * i])
        if tag in (256, 257):
            tags[tag] = struct.unpack(e + "H", raw[:2])[0] if typ == 3 else struct.unpack(e + "I", raw)[0]
    return (tags[256], tags[257]) if 256 in tags and 257 in tags else None


def _jp2(d: bytes) -> tuple[int, int] | None:
    i = d.find(b"\xff\x4f\xff\x51")  # start of codestream + SIZ marker (raw J2K or inside a JP2 box)
    if i < 0 or not (d[:4] == b"\xff\x4f\xff\x51" or d[4:12] == b"jP  \r\n\x87\n"):
        return None
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", d[i + 8 : i + 24])
    return xsiz - xo, ysiz - yo


def _jpeg(d: bytes) -> tuple[int, int] | None:
    if d[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(d):
        if d[i] != 0xFF:  # segments are chained: anything else is not a JPEG header we can trust
            return None
        marker = d[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", d[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h, w = struct.unpack(">HH", d[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None
