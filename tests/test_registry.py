"""The backend registry (one entry per runtime, read by make_backend, export and quantize) and ``--backend auto``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from yolopt import Detector, make_backend
from yolopt.backends import BackendSpec, auto, registry
from yolopt.export import cached_export, export, formats


def test_every_format_is_run_by_the_backend_that_reads_it():
    assert formats() == {"onnx": ".onnx", "openvino": ".xml", "engine": ".engine", "tflite": ".tflite",
                         "ncnn": ".param", "coreml": ".mlpackage"}
    for spec in registry.export_formats().values():  # coreml has no Linux runtime: export only
        assert registry.for_suffix(spec.suffix).name == spec.name
    assert [s.name for s in registry.readers(".onnx")] == ["onnxruntime", "openvino"]
    assert registry.for_suffix(".pt") is None and registry.for_suffix("") is None
    with pytest.raises(ValueError, match="unknown export format 'nosuch'; expected one of onnx, openvino, engine"):
        export("yolov8n", "nosuch", "x")
    with pytest.raises(ValueError, match="unknown backend 'nosuch'; available: auto, torch, onnxruntime"):
        make_backend("yolov8n", "nosuch")


def test_one_registry_entry_makes_a_new_format_exportable_and_runnable(monkeypatch, tmp_path, yolov8n_pt):
    """A runtime added with one ``register`` call: export writes its format, auto runs its files, the cache keys it."""
    spec = BackendSpec("ort-copy", "yolopt.backends.onnxruntime_backend:ORTBackend", (".ortcopy",), "ortcopy",
                       "yolopt.export.onnx:export_onnx", ("fp32",), requires=("onnxruntime",))
    monkeypatch.setitem(registry._REGISTRY, spec.name, spec)
    assert formats()["ortcopy"] == ".ortcopy"
    path = export(yolov8n_pt, "ortcopy", tmp_path / "m.ortcopy", imgsz=320)
    be = make_backend(path)  # auto: the runtime of .ortcopy files
    ref = make_backend(yolov8n_pt, "onnxruntime")
    x = np.full((1, 3, 320, 320), 114, np.uint8)
    assert be.name == "onnxruntime" and np.array_equal(be.infer(x), ref.infer(x))
    assert Detector(path).backend_reason == "auto: the runtime of .ortcopy files"


def test_options_left_unset_are_dropped_and_precision_is_checked_per_backend(yolov8n_pt):
    be = make_backend(yolov8n_pt, "torch", precision=None, threads=None, streams=None)
    assert be.dtype.is_floating_point and str(be.dtype) == "torch.float32"
    with pytest.raises(ValueError, match="precision 'bf16': backend 'onnxruntime' takes fp32 or fp16"):
        make_backend(yolov8n_pt, "onnxruntime", precision="bf16")
    onnx = cached_export(yolov8n_pt, "onnx")
    with pytest.raises(ValueError, match="holds a fp32 model, not fp16"):
        make_backend(onnx, "onnxruntime", precision="fp16")
    with pytest.raises(ValueError, match="runs on backend 'onnxruntime'"):
        make_backend(onnx, "torch")
    assert make_backend(onnx, "openvino").name == "openvino"  # OpenVINO reads .onnx too


def test_auto_follows_the_file_the_environment_and_exactness():
    assert auto.resolve("m.onnx").name == "onnxruntime" and auto.resolve("m.xml").name == "openvino"
    assert auto.resolve("yolov8n").name == "torch"  # conftest: $YOLOPT_BACKEND_AUTO=torch
    assert auto.resolve("yolov8n", options={"precision": "bf16"}).name == "torch"


def test_auto_measures_once_per_machine_and_remembers(monkeypatch, tmp_path):
    monkeypatch.delenv(auto.ENV)
    cache = tmp_path / "auto_backend.json"
    logs: list[str] = []
    first = auto.resolve("yolov8n", 128, {}, seconds=0.05, cache=cache, log=logs.append)
    installed = [s.name for s in map(registry.get, registry.backend_names()) if s.auto and s.installed()]
    assert set(first.img_s) == set(installed) and first.name == max(first.img_s, key=first.img_s.get)
    assert all(v > 0 for v in first.img_s.values()) and len(logs) == len(installed)
    stored = json.loads(cache.read_text())
    (key,) = stored
    assert "yolov8n/128" in key and stored[key]["backend"] == first.name
    logs.clear()
    again = auto.resolve("yolov8n", 128, {}, seconds=0.05, cache=cache, log=logs.append)
    assert (again.name, again.img_s, logs) == (first.name, first.img_s, [])  # remembered: nothing measured
    assert "measured" in again.reason


def test_predict_summary_says_which_backend_ran(cli, data_dir):
    res = cli("predict", data_dir / "samples" / "000000397133.jpg", "--imgsz", "320")
    assert res.returncode == 0 and "on torch (auto: $YOLOPT_BACKEND_AUTO): 1 ok, 0 failed" in res.stderr
    res = cli("predict", data_dir / "samples" / "000000397133.jpg", "--imgsz", "320", "--backend", "torch")
    assert "on torch (as asked)" in res.stderr
