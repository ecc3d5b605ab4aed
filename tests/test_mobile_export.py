"""Mobile exports (TFLite, NCNN, CoreML): parity with PyTorch FP32, metadata, backends, NMS graphs, refusal.

Exports run at small sizes (160-320) to stay fast; coco-val mAP per format is benchmarks/mobile.py's job.
Each test needs its converter's extra and skips, naming it, when that extra is not installed.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from yolopt.backends.static_shape import pad_to
from yolopt.export.verify import sample_inputs, torch_outputs
from yolopt.model import load_model


def need(module: str, extra: str):
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{module} not installed (pip install 'yolopt[{extra}]')")


tflite = need("litert_torch", "tflite")
ncnn = need("pnnx", "ncnn")
coreml = need("coremltools", "coreml")


@pytest.fixture(scope="module")
def nc3(data_dir):
    return load_model(data_dir / "weights" / "yolov8n-nc3-random.pt")


@pytest.fixture(scope="module")
def v8n(yolov8n_pt):
    return load_model(yolov8n_pt)


def test_pad_to_keeps_pixel_coordinates():
    x = np.random.default_rng(0).integers(0, 255, (2, 3, 64, 96), dtype=np.uint8)
    y = pad_to(x, 128, 128)
    assert y.shape == (2, 3, 128, 128) and np.array_equal(y[:, :, :64, :96], x) and (y[:, :, 64:] == 114).all()
    with pytest.raises(ValueError, match="fixed 64x64"):
        pad_to(x, 64, 64)


def test_nms_graph_matches_yolopt_nms(v8n):
    """The NMS that ends exported graphs gives yolopt's own detections on the samples (same rows, same order)."""
    from yolopt.export.verify import compare_nms, yolopt_nms_reference

    nms = {"conf": 0.25, "iou": 0.7, "max_det": 300}
    inputs = sample_inputs(320)
    got = torch_outputs(v8n, inputs, nms)
    ref = yolopt_nms_reference(v8n, inputs, nms)
    assert sum(int((r[0, :, 4] > 0).sum()) for r in ref) > 10  # the check compares real detections
    v = compare_nms("torch", "fp32", ref, got, nms)
    assert v.ok and v.box_diff < 1e-3, v.summary()


@tflite
@pytest.mark.slow
def test_tflite_fp32_parity_custom_classes_and_predict(nc3, data_dir, tmp_path):
    """FP32 TFLite raw outputs match PyTorch within 1e-2 px / 1e-4 on the samples, for a 3-class model; the file
    carries its class names and image size, and predict runs it (a larger imgsz than the file's is refused)."""
    from yolopt.backends.tflite_backend import TFLiteBackend
    from yolopt.detector import Detector
    from yolopt.export.mobile import export_mobile
    from yolopt.export.tflite import read_metadata
    from yolopt.export.verify import compare_raw

    path = export_mobile(nc3, "tflite", tmp_path / "nc3.tflite", imgsz=320, log=lambda s: None)
    backend = TFLiteBackend(path)
    inputs = sample_inputs(320)
    v = compare_raw("tflite", "fp32", torch_outputs(nc3, inputs), [backend.infer(x) for x in inputs])
    assert v.box_diff <= 1e-2 and v.score_diff <= 1e-4, v.summary()
    meta = read_metadata(path.read_bytes())
    assert meta["imgsz"] == "320" and meta["precision"] == "fp32" and meta["nc"] == "3"
    det = Detector(str(path), imgsz=320, conf=0.0001)
    assert det.names == {0: "helmet", 1: "head", 2: "person"}
    r = det(data_dir / "samples" / "000000184324.jpg")
    assert len(r) > 0 and set(r.class_ids.tolist()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="fixed 320x320"):
        next(Detector(str(path), imgsz=640).predict([data_dir / "samples" / "000000184324.jpg"])).raise_for_error()


@tflite
@pytest.mark.slow
def test_tflite_nms_export_verified_against_yolopt(v8n, tmp_path):
    """--nms: the TFLite graph returns final detections equal to yolopt's NMS on the samples (checked at export)."""
    from yolopt.backends.tflite_backend import TFLiteBackend
    from yolopt.export.mobile import export_mobile

    lines = []
    path = export_mobile(v8n, "tflite", tmp_path / "nms.tflite", imgsz=320, nms={"max_det": 100}, log=lines.append)
    assert "within tolerance" in lines[-1]
    out = TFLiteBackend(path, allow_nms=True).infer(sample_inputs(320)[0])
    assert out.shape == (1, 100, 6) and (out[0, :, 4] > 0).sum() > 3
    with pytest.raises(ValueError, match="ends in NMS"):
        TFLiteBackend(path)


def test_mse_range_beats_extremes_on_heavy_tailed_values():
    """On heavy-tailed values like YOLOv8's activations the MSE range clips the rare extremes and quantizes the
    values themselves (not the histogram it was chosen on) with less error than the min/max range."""
    from yolopt.export.activation_ranges import BINS, mse_range

    rng = np.random.default_rng(0)
    x = rng.standard_t(3, 500_000)  # extremes near +-70 while half the values lie within +-0.8
    lo, hi = float(x.min()), float(x.max())
    a, b = mse_range(np.histogram(x, BINS, (lo, hi))[0], lo, hi)

    def int8_mse(a: float, b: float) -> float:
        scale = (b - a) / 255
        q = np.clip(np.round((x - a) / scale), 0, 255)
        return float(((q * scale + a - x) ** 2).mean())

    assert lo < a < 0 < b < hi  # both extremes clipped
    assert int8_mse(a, b) < 0.7 * int8_mse(lo, hi)


@tflite
@pytest.mark.slow
def test_tflite_int8_integer_network_float_decode(v8n, data_dir, tmp_path):
    """INT8 TFLite: the export check passes (PyTorch's detections found on the samples); every convolution but
    the head's 6 last ones is int8, and every op of the box decoding — anchor arithmetic included — is float."""
    from ai_edge_litert.interpreter import Interpreter

    from yolopt.export.mobile import export_mobile

    calib = sorted((data_dir / "coco128" / "images").glob("*.jpg"))[:12]
    lines = []
    path = export_mobile(v8n, "tflite", tmp_path / "int8.tflite", imgsz=320, int8=True, data=calib,
                         log=lines.append)
    assert "within tolerance" in lines[-1]
    it = Interpreter(model_path=str(path))
    dtype = {t["index"]: t["dtype"] for t in it.get_tensor_details()}
    name = {t["index"]: t["name"] for t in it.get_tensor_details()}
    ops = [(o["op_name"], name[o["outputs"][0]], dtype[o["outputs"][0]]) for o in it._get_ops_details()]
    convs = [d for op, _, d in ops if op == "CONV_2D"]
    assert convs.count(np.int8) == 57 and len(convs) == 64  # 63 network convs + the DFL's
    decode = [(op, d) for op, n, d in ops if n.split("/")[-1].startswith("yolopt.model.head.Detect_")
              and op in ("SUB", "ADD", "MUL", "CONCATENATION", "LOGISTIC")]
    assert len(decode) >= 6 and all(d == np.float32 for _, d in decode), decode


@ncnn
@pytest.mark.slow
def test_ncnn_fp32_parity_and_custom_classes(v8n, nc3, tmp_path):
    """NCNN FP32 matches PyTorch within 1e-2 px / 1e-4; a 3-class model keeps its names in the .json beside it."""
    from yolopt.backends.ncnn_backend import NCNNBackend
    from yolopt.export.mobile import export_mobile
    from yolopt.export.verify import compare_raw

    path = export_mobile(v8n, "ncnn", tmp_path / "m.param", imgsz=320, log=lambda s: None)
    assert path.with_suffix(".bin").exists()
    inputs = sample_inputs(320)
    backend = NCNNBackend(path)
    v = compare_raw("ncnn", "fp32", torch_outputs(v8n, inputs), [backend.infer(x) for x in inputs])
    assert v.box_diff <= 1e-2 and v.score_diff <= 1e-4, v.summary()
    small = export_mobile(nc3, "ncnn", tmp_path / "nc3.param", imgsz=160, half=True, log=lambda s: None)
    meta = json.loads(small.with_suffix(".json").read_text())
    assert json.loads(meta["names"]) == {"0": "helmet", "1": "head", "2": "person"} and meta["precision"] == "fp16"
    assert NCNNBackend(small).infer(sample_inputs(160)[0]).shape == (1, 7, 525)


@ncnn
@pytest.mark.slow
def test_export_over_tolerance_exits_1_and_keeps_unverified_file(data_dir, tmp_path, monkeypatch):
    """The CLI refuses an export whose outputs exceed the tolerance: exit 1, file kept with a .unverified suffix."""
    from typer.testing import CliRunner

    from yolopt.cli import app
    from yolopt.export import verify

    nc3_path = data_dir / "weights" / "yolov8n-nc3-random.pt"
    monkeypatch.setitem(verify.RAW_TOLERANCE, "fp32", (0.0, 0.0))  # real float differences now count as failures
    out = tmp_path / "m.param"
    res = CliRunner().invoke(app, ["export", "-m", str(nc3_path), "-f", "ncnn", "--imgsz", "160", "-o", str(out)])
    assert res.exit_code == 1, res.output
    assert "OVER TOLERANCE" in res.output and "unverified" in res.output
    assert not out.exists() and (tmp_path / "m.param.unverified").exists() and (tmp_path / "m.bin.unverified").exists()


@coreml
@pytest.mark.slow
def test_coreml_spec_checked(nc3, tmp_path):
    """CoreML cannot run on Linux: its spec (image input, output shape, metadata, op set) is what is checked."""
    from yolopt.export.coreml import check_spec
    from yolopt.export.mobile import export_mobile

    lines = []
    path = export_mobile(nc3, "coreml", tmp_path / "m.mlpackage", imgsz=160, log=lines.append)
    assert path.is_dir() and "spec checked" in lines[-1] and "not run here" in lines[-1]
    assert not check_spec(path, nc3, 320, "fp32").ok  # a wrong size is caught


def test_mobile_options_rejected_for_other_formats():
    from typer.testing import CliRunner

    from yolopt.cli import app

    res = CliRunner().invoke(app, ["export", "-f", "onnx", "-o", "x.onnx", "--int8"])
    assert res.exit_code == 2 and "--int8" in res.output


def test_export_graph_tracks_strides_as_constants(v8n):
    """torch.export (what LiteRT and CoreML convert from) needs the head's strides as Python constants."""
    from yolopt.export.graph import ExportGraph

    prog = torch.export.export(ExportGraph(v8n).eval(), (torch.full((1, 3, 64, 64), 114, dtype=torch.uint8),))
    assert not any("_local_scalar_dense" in str(n.target) for n in prog.graph.nodes)
