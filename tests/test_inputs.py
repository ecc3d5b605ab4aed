"""The one path → network input helper and the one image lister."""

from __future__ import annotations

import numpy as np
import pytest

from yolopt.data.decode import DecodeError, read_image
from yolopt.data.inputs import image_files, load_input
from yolopt.data.letterbox import letterbox
from yolopt.engine import StageTimes


def test_path_bytes_and_array_give_the_same_network_input(data_dir):
    path = data_dir / "samples" / "000000397133.jpg"
    times = StageTimes()
    a = load_input(path, 320, times=times)
    b, c = load_input(path.read_bytes(), 320), load_input(read_image(path), 320)
    assert a.chw.shape == (3, 224, 320) and a.chw.dtype == np.uint8
    assert np.array_equal(a.chw, b.chw) and np.array_equal(a.chw, c.chw) and a.info == b.info
    hwc, _ = letterbox(read_image(path), 320)  # the HWC BGR letterbox, pixel for pixel
    assert np.array_equal(a.chw, hwc[..., ::-1].transpose(2, 0, 1))
    assert times.seconds["read"] > 0 and times.seconds["decode"] > 0 and times.seconds["letterbox"] > 0
    with pytest.raises(DecodeError, match="upload.jpg: not a decodable image"):
        load_input(b"\xff\xd8garbage", name="upload.jpg")


def test_image_files_lists_images_only_and_reports_what_named_nothing(data_dir, tmp_path):
    errors: list[str] = []
    files = image_files([data_dir / "samples", tmp_path / "missing.jpg", str(tmp_path / "*.png")], errors)
    assert [p.name for p in files] == ["000000184324.jpg", "000000303818.jpg", "000000397133.jpg"]  # no .mp4
    assert len(errors) == 2 and "no such file" in errors[0] and "matched no files" in errors[1]
