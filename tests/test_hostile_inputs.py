"""Hostile and broken inputs: decompression bombs, symlink loops, FIFOs, devices, broken entries in a folder."""

from __future__ import annotations

import os
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolopt.data.decode import DecodeError, ImageTooLargeError, decode_bytes, read_bytes
from yolopt.data.image_size import image_size
from yolopt.data.sources import iter_items


def png_bomb(w: int, h: int) -> bytes:
    """A valid 1-bit grayscale PNG of w x h zeros: a few KB on disk per gigapixel."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\0" * (1 + (w + 7) // 8)
    z = zlib.compressobj(9)
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm", ".gif"])
def test_header_size_matches_decoded_size(ext):
    img = np.random.default_rng(0).integers(0, 255, (37, 53, 3), np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    assert image_size(buf.tobytes()) == (53, 37)


def test_decompression_bomb_refused_from_header_fast_and_small():
    bomb = png_bomb(32768, 32768)  # 1.07 gigapixels, ~130 KB
    assert len(bomb) < 200_000
    before = rss_mb()
    t = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="32768x32768"):
        decode_bytes(bomb, "bomb.png")
    assert time.perf_counter() - t < 0.05
    assert rss_mb() - before < 50
    small = png_bomb(64, 48)  # the cap is configurable, and small images still decode
    assert decode_bytes(small, "ok.png").shape == (48, 64, 3)
    with pytest.raises(ImageTooLargeError):
        decode_bytes(small, "ok.png", max_pixels=1000)


def test_fifo_device_and_oversized_files_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"\0" * 5000)
    t = time.perf_counter()
    with pytest.raises(DecodeError, match="fifo.jpg: not a regular file"):
        read_bytes(fifo)
    with pytest.raises(DecodeError, match="zero.jpg: not a regular file"):
        read_bytes(zero)
    with pytest.raises(ImageTooLargeError, match="big.jpg"):
        read_bytes(big, max_bytes=1000)
    assert time.perf_counter() - t < 1


def broken_folder(root: Path) -> dict[str, str]:
    """A folder with good images and every kind of broken entry; maps each entry to 'ok' or its failure."""
    ok, buf = cv2.imencode(".jpg", np.full((40, 60, 3), 128, np.uint8))
    (root / "sub").mkdir()
    for name in ("a.jpg", "sub/b.jpg", "z.jpg"):
        (root / name).write_bytes(buf.tobytes())
    (root / "loop").symlink_to(".")  # a symlink loop: must not repeat the folder
    (root / "sub" / "up").symlink_to("..")
    (root / "self.jpg").symlink_to("self.jpg")  # ELOOP
    os.mkfifo(root / "fifo.jpg")
    (root / "zero.jpg").symlink_to("/dev/zero")
    (root / "dangling.jpg").symlink_to("missing.jpg")
    (root / "empty.jpg").write_bytes(b"")
    (root / "bomb.png").write_bytes(png_bomb(20000, 20000))
    return {"a.jpg": "ok", "sub/b.jpg": "ok", "z.jpg": "ok", "self.jpg": "cannot", "fifo.jpg": "not a regular file",
            "zero.jpg": "not a regular file", "dangling.jpg": "no such file", "empty.jpg": "empty file",
            "bomb.png": "megapixel limit"}


def test_folder_with_broken_entries_accounts_for_every_entry_once(tmp_path):
    from yolopt.engine.predictor import prepare

    expected = broken_folder(tmp_path)
    seen: dict[str, str] = {}
    t = time.perf_counter()
    for item in iter_items([tmp_path]):
        rel = os.path.relpath(item.source, tmp_path)
        assert rel not in seen, f"{rel} listed twice"
        prep = prepare(item, 64)
        seen[rel] = "ok" if prep.error is None else prep.error
        if prep.error is not None:
            assert prep.error.startswith(str(tmp_path / rel)), prep.error  # the error names the path
    assert time.perf_counter() - t < 5
    assert seen.keys() == expected.keys()
    for rel, want in expected.items():
        assert want in seen[rel], (rel, seen[rel])


def test_video_frames_count_their_decode_time_and_give_a_progress_total(tmp_path):
    from yolopt import Detector
    from yolopt.data.sources import count_items
    from yolopt.engine import StageTimes

    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    rng = np.random.default_rng(0)
    for _ in range(12):
        writer.write(rng.integers(0, 255, (240, 320, 3), np.uint8))
    writer.release()
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.full((40, 60, 3), 100, np.uint8))
    assert count_items([str(path), str(img)]) == 13
    det = Detector("yolov8n", imgsz=64)
    times = StageTimes()
    assert len(list(det.predict([str(path)], times=times))) == 12
    assert times.seconds["decode"] / 12 > 5e-5  # the frames' decoding (cap.read) is counted, not ~0


def test_predict_megapixel_cap_is_a_per_input_error(cli, tmp_path):
    """`predict --max-megapixels` refuses larger images from their header as failed inputs; the rest still run."""
    small = tmp_path / "small.png"
    small.write_bytes(png_bomb(320, 240))  # 0.08 MP
    big = tmp_path / "big.png"
    big.write_bytes(png_bomb(2000, 1000))  # 2 MP
    res = cli("predict", small, big, "--max-megapixels", "1", "--backend", "torch")
    assert res.returncode == 1, res.stderr
    records = [line for line in res.stdout.splitlines() if line.strip()]
    assert len(records) == 2
    assert '"error"' in records[1] and "big.png" in records[1] and "megapixel" in records[1]
    assert '"error": null' in records[0] or '"error"' not in records[0]
