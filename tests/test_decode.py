"""Decoding: every common image variant reaches the network as 8-bit BGR, bad files fail by name."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from yolopt.data.decode import DecodeError, read_image

# A 60x80 RGB image with three coloured quadrants: red top-left, green top-right, blue bottom-right.
RGB = np.zeros((60, 80, 3), np.uint8)
RGB[:30, :40] = (255, 0, 0)
RGB[:30, 40:] = (0, 255, 0)
RGB[30:, 40:] = (0, 0, 255)


def close(a, b, tol=8):
    return np.abs(a.astype(int) - np.asarray(b).astype(int)).max() <= tol


def test_cmyk_jpeg(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.fromarray(RGB).convert("CMYK").save(p, quality=95)
    assert Image.open(p).mode == "CMYK"
    im = read_image(p)
    assert im.shape == (60, 80, 3) and im.dtype == np.uint8
    assert close(im[10, 10], (0, 0, 255)) and close(im[10, 70], (0, 255, 0)) and close(im[50, 70], (255, 0, 0))


def test_exif_rotated_jpeg_is_upright(tmp_path):
    p = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90° clockwise for display
    Image.fromarray(RGB).save(p, exif=exif, quality=95)
    im = read_image(p)
    upright = np.asarray(Image.fromarray(RGB).transpose(Image.Transpose.ROTATE_270))[..., ::-1]
    assert im.shape == (80, 60, 3)
    assert np.abs(im.astype(int) - upright.astype(int)).mean() < 3


def test_16bit_png_scaled_to_8bit(tmp_path):
    a = np.full((40, 50), 65535, np.uint16)
    a[:20] = 100 * 256
    cv2.imwrite(str(tmp_path / "g16.png"), a)
    im = read_image(tmp_path / "g16.png")
    assert im.dtype == np.uint8 and im.shape == (40, 50, 3)
    assert (im[0, 0] == 100).all() and (im[30, 0] == 255).all()


def test_rgba_png_drops_alpha(tmp_path):
    bgra = np.dstack([RGB[..., ::-1], np.full((60, 80), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    im = read_image(tmp_path / "a.png")
    assert im.shape == (60, 80, 3) and (im == RGB[..., ::-1]).all()


def test_grayscale_expands_to_three_channels(tmp_path):
    Image.fromarray(RGB[..., 1]).save(tmp_path / "g.png")
    im = read_image(tmp_path / "g.png")
    assert im.shape == (60, 80, 3) and (im[..., 0] == RGB[..., 1]).all() and (im[..., 0] == im[..., 2]).all()


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"hello, not an image\n" * 10, "not a decodable image"),
        ("noise.png", bytes(range(256)) * 4, "not a decodable image"),
    ],
)
def test_bad_files_raise_with_path(tmp_path, name, content, reason):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DecodeError, match=reason) as e:
        read_image(p)
    assert str(p) in str(e.value)


def test_truncated_jpeg_is_reported(tmp_path, data_dir):
    data = (data_dir / "samples" / "000000184324.jpg").read_bytes()
    for cut in (len(data) // 2, len(data) - 2):  # mid-scan, and only the end marker missing
        p = tmp_path / f"cut{cut}.jpg"
        p.write_bytes(data[:cut])
        with pytest.raises(DecodeError, match="truncated JPEG"):
            read_image(p)
    # trailing bytes after a complete JPEG are harmless
    (tmp_path / "tail.jpg").write_bytes(data + b"\0" * 64)
    assert read_image(tmp_path / "tail.jpg").shape == (425, 640, 3)


def test_missing_and_directory(tmp_path):
    with pytest.raises(DecodeError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(DecodeError, match="is a directory"):
        read_image(tmp_path)
