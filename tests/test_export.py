"""Exports (ONNX, OpenVINO IR): graph inputs/outputs, dynamic shapes, metadata, FP16, the export cache, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from yolopt import Detector, __version__
from yolopt.detector import make_backend
from yolopt.export import export, export_metadata
from yolopt.export.cache import cached_export, weights_digest
from yolopt.model import load_model, save_yolopt

# Same tolerances as tests/test_backends.py (see its docstring for the measurements behind them).
BOX_ATOL, SCORE_ATOL = 1e-2, 5e-5


@pytest.fixture(scope="session")
def exported(tmp_path_factory, yolov8n_pt) -> dict[str, Path]:
    """yolov8n exported once for this file: ONNX FP32, OpenVINO FP32 (from the .pt), OpenVINO from the ONNX."""
    d = tmp_path_factory.mktemp("export")
    onnx_path = export(yolov8n_pt, "onnx", d / "yolov8n.onnx")
    return {"onnx": onnx_path, "openvino": export(yolov8n_pt, "openvino", d / "ov" / "yolov8n.xml"),
            "openvino_from_onnx": export(onnx_path, "openvino", d / "from_onnx.xml")}


@pytest.fixture(scope="session")
def torch_backend(yolov8n_pt):
    return make_backend(yolov8n_pt, "torch")


def real_images(data_dir: Path, h: int, w: int, n: int) -> np.ndarray:
    """``n`` distinct coco-val photos resized to (h, w), as (n, 3, h, w) uint8 RGB."""
    paths = sorted((data_dir / "coco-val" / "images").glob("*.jpg"))[:n]
    return np.stack([np.ascontiguousarray(cv2.resize(cv2.imread(str(p)), (w, h))[..., ::-1].transpose(2, 0, 1))
                     for p in paths])


def test_onnx_graph_takes_uint8_with_dynamic_batch_height_width(exported):
    m = onnx.load(str(exported["onnx"]))
    onnx.checker.check_model(m)
    (inp,), (out,) = m.graph.input, m.graph.output
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = inp.type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "", "height", "width"] and dims[1].dim_value == 3
    odims = out.type.tensor_type.shape.dim
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert (odims[0].dim_param, odims[1].dim_value, odims[2].dim_param) == ("batch", 84, "anchors")


@pytest.mark.parametrize("shape", [(1, 448, 640), (2, 640, 480), (3, 320, 320)])
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_dynamic_shapes_match_torch(exported, torch_backend, data_dir, fmt, shape):
    """One exported file serves every input size: anchors come from the feature shapes inside the graph."""
    b, h, w = shape
    x = real_images(data_dir, h, w, b)
    out = make_backend(exported[fmt]).infer(x)
    ref = torch_backend.infer(x)
    anchors = sum((h // s) * (w // s) for s in (8, 16, 32))
    assert out.shape == ref.shape == (b, 84, anchors)
    assert np.abs(out - ref)[:, :4].max() <= BOX_ATOL
    assert np.abs(out - ref)[:, 4:].max() <= SCORE_ATOL


def test_metadata_round_trips(exported, yolov8n_pt):
    model = load_model(yolov8n_pt)
    expected = export_metadata(model)
    assert expected["version"] == __version__ and expected["stride"] == "32" and expected["imgsz"] == "640"
    assert expected["scale"] == "n" and json.loads(expected["names"])["0"] == "person"
    props = {p.key: p.value for p in onnx.load(str(exported["onnx"])).metadata_props}
    assert props == expected
    for key in ("onnx", "openvino", "openvino_from_onnx"):
        det = Detector(model=exported[key])
        assert det.names == model.names
        assert det.backend.metadata == expected


def test_openvino_from_onnx_equals_openvino_from_torch(exported, data_dir):
    """Both routes convert the same traced graph, so their outputs agree bit for bit."""
    x = real_images(data_dir, 448, 640, 2)
    a = make_backend(exported["openvino"]).infer(x)
    b = make_backend(exported["openvino_from_onnx"]).infer(x)
    assert np.array_equal(a, b)


def test_custom_class_checkpoint(tmp_path, data_dir):
    """A 3-class checkpoint: output has 4 + 3 rows and its own class names travel with the file."""
    pt = data_dir / "weights" / "yolov8n-nc3-random.pt"
    path = export(pt, "onnx", tmp_path / "nc3.onnx")
    be = make_backend(path)
    assert be.names == {0: "helmet", 1: "head", 2: "person"}
    x = real_images(data_dir, 320, 480, 2)
    out, ref = be.infer(x), make_backend(pt, "torch").infer(x)
    assert out.shape == ref.shape == (2, 7, 3150)
    assert np.abs(out - ref)[:, :4].max() <= BOX_ATOL and np.abs(out - ref)[:, 4:].max() <= SCORE_ATOL


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_fp16_export(tmp_path, exported, torch_backend, data_dir, yolov8n_pt, fmt):
    """FP16 halves the file; outputs stay within FP16 rounding of FP32 (a 10-bit mantissa: 0.25-0.5 px steps
    at 256-640 px, ~1e-3 relative in scores)."""
    path = export(yolov8n_pt, fmt, tmp_path / f"half{'.onnx' if fmt == 'onnx' else '.xml'}", half=True)
    weights = (lambda p: p if fmt == "onnx" else p.with_suffix(".bin"))
    assert weights(path).stat().st_size < 0.6 * weights(exported[fmt]).stat().st_size
    be = make_backend(path)
    assert be.metadata["precision"] == "fp16"
    x = real_images(data_dir, 448, 640, 1)
    out, ref = be.infer(x), torch_backend.infer(x)
    assert out.dtype == np.float32 and out.shape == ref.shape
    assert np.abs(out - ref)[:, :4].max() <= 1.0
    assert np.abs(out - ref)[:, 4:].max() <= 1e-2


def test_cached_export_is_keyed_by_weights_and_options(tmp_path, monkeypatch, yolov8n_pt):
    monkeypatch.setenv("YOLOPT_CACHE", str(tmp_path / "cache"))
    be = make_backend(yolov8n_pt, "onnxruntime")
    path = be.path
    assert path.is_file() and path.is_relative_to(tmp_path / "cache")
    mtime = path.stat().st_mtime_ns
    assert make_backend(yolov8n_pt, "onnxruntime").path == path and path.stat().st_mtime_ns == mtime  # reused
    # The same weights saved in yolopt's own format hash the same, so the export is shared.
    st = save_yolopt(load_model(yolov8n_pt), tmp_path / "copy.safetensors")
    assert weights_digest(load_model(st)) == weights_digest(load_model(yolov8n_pt))
    assert cached_export(st, "onnx") == path
    # Another option or other weights: another file.
    assert cached_export(yolov8n_pt, "onnx", half=True) != path
    other = load_model(yolov8n_pt)
    other.net.model[0].conv.weight.data[0, 0, 0, 0] += 1
    assert weights_digest(other) != weights_digest(load_model(yolov8n_pt))


def test_export_cli(cli, tmp_path, data_dir):
    out = tmp_path / "cli.onnx"
    res = cli("export", "--model", data_dir / "weights" / "yolov8n.pt", "--format", "onnx", "--out", out,
              "--imgsz", "320")
    assert res.returncode == 0, res.stderr
    assert str(out) in res.stdout
    assert Detector(out).backend.metadata["imgsz"] == "320"
    bad = cli("export", "--format", "nosuch", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "unknown export format" in bad.stderr
