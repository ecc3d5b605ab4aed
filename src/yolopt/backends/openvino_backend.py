"""OpenVINO backend: an IR (.xml) or ONNX file compiled for CPU (or another device), FP32 by default."""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..export.metadata import parse_names
from ..optional import require

#: Our precision names → OpenVINO's INFERENCE_PRECISION_HINT. The CPU default is bf16 wherever the CPU has
#: AVX512-BF16/AMX (boxes then move by pixels), so fp32 is always asked for explicitly.
PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
SHAPE_MODES = ("static", "hw", "dynamic")
_META_SECTIONS = ("yolopt", "model_info", "framework")  # ours, Ultralytics' IR exports, ONNX metadata_props


def read_metadata(model) -> dict[str, str]:
    """String metadata of an ``openvino.Model`` from its rt_info (first section that has class names)."""
    info = model.get_rt_info()
    for section in _META_SECTIONS:
        if section in info and isinstance(info[section], dict) and "names" in info[section]:
            return {k: v.astype(str) for k, v in info[section].items()}
    return {}


class _Compiled:
    """One compiled model and its pool of infer requests (each runs one call at a time)."""

    def __init__(self, compiled, requests: int):
        self.compiled = compiled
        self.pool: queue.Queue = queue.Queue()
        for _ in range(requests):
            self.pool.put(compiled.create_infer_request())


class OpenVINOBackend:
    """Runs a model with OpenVINO; batches go through in one call, and up to ``concurrency`` calls at once.

    ``hint="THROUGHPUT"`` (the default) compiles the model into several CPU streams, each with its own
    threads, and keeps one infer request per stream, so the engine's inference threads run
    images side by side; ``"LATENCY"`` gives one stream using every core (lowest single-image latency;
    THROUGHPUT with two requests in flight was the faster of the two on a 2-core CPU).

    ``shapes`` picks what a compiled model is specialised to: ``"static"`` one per full input shape,
    ``"hw"`` one per (H, W) with a dynamic batch, ``"dynamic"`` a single one for every shape. The first two
    keep an LRU of ``cache_size`` compiled models. ``"dynamic"`` is the default: it runs as fast
    (benchmarks/backends_speed.py) and holds far less memory, since with ``"hw"`` every compiled shape keeps
    its own buffers per infer request (BENCHMARKS.md, "Why the code is the way it is"). On yolov8n (CPU,
    FP32) an image's output is bit-identical at batch 1, 2, 3 and 8 in every mode, and the modes agree with
    each other bit for bit, so batching is exact (tests/test_backends.py checks it).
    """

    name = "openvino"

    def __init__(self, path: str | Path, device: str = "CPU", threads: int | None = None,
                 hint: str = "THROUGHPUT", precision: str = "fp32", shapes: str = "dynamic", cache_size: int = 16,
                 streams: int | None = None):
        ov = self._ov = require("openvino", "yolopt[openvino]", "the openvino backend")
        if precision not in PRECISION_HINTS:
            raise ValueError(f"precision {precision!r}: expected one of {sorted(PRECISION_HINTS)}")
        if shapes not in SHAPE_MODES:
            raise ValueError(f"shapes {shapes!r}: expected one of {', '.join(SHAPE_MODES)}")
        if hint not in ("THROUGHPUT", "LATENCY"):
            raise ValueError(f"hint {hint!r}: expected THROUGHPUT or LATENCY")
        self.path = Path(path)
        self.core = ov.Core()
        self.model = self.core.read_model(str(path))
        self.device, self.shapes, self.cache_size = device, shapes, cache_size
        self.precision = precision
        self.config: dict[str, object] = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
                                          "PERFORMANCE_HINT": hint}
        if threads:
            self.config["INFERENCE_NUM_THREADS"] = threads
        if streams:
            self.config["NUM_STREAMS"] = streams
        self.metadata = read_metadata(self.model)
        nc = self.model.outputs[0].get_partial_shape()[1]
        self.names = parse_names(self.metadata, nc.get_length() - 4 if nc.is_static else None)
        self.float_input = self.model.inputs[0].get_element_type().is_real()  # e.g. Ultralytics IR: float in
        self._compiled: OrderedDict[tuple[int, ...] | None, _Compiled] = OrderedDict()
        self._lock = threading.Lock()  # guards the cache of compiled models
        # how many infer() calls may run at once: the runtime's optimal number of requests under THROUGHPUT
        self.concurrency = 1
        if hint == "THROUGHPUT" or shapes == "dynamic":  # compiled now only when the property or model is used
            compiled = self.core.compile_model(self.model, device, self.config)
            if hint == "THROUGHPUT":
                self.concurrency = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            if shapes == "dynamic":
                self._compiled[None] = _Compiled(compiled, self.concurrency)

    def _get(self, shape: tuple[int, ...]) -> _Compiled:
        key = {"static": shape, "hw": (-1, *shape[1:]), "dynamic": None}[self.shapes]
        with self._lock:
            entry = self._compiled.get(key)
            if entry is None:
                model = self.model
                if key is not None:
                    model = self.model.clone()
                    model.reshape({0: list(key)})
                entry = _Compiled(self.core.compile_model(model, self.device, self.config), self.concurrency)
                self._compiled[key] = entry
                while len(self._compiled) > self.cache_size:
                    self._compiled.popitem(last=False)
            self._compiled.move_to_end(key)
            return entry

    def compiled_model(self, shape: tuple[int, ...]):
        """The ``openvino.CompiledModel`` that runs inputs of ``shape`` (compiled now if needed)."""
        return self._get(tuple(shape)).compiled

    def compile(self, shape: tuple[int, ...], **config: object):
        """A separate ``openvino.CompiledModel`` for ``shape`` with extra settings (e.g. ``PERF_COUNT=True``)."""
        model = self.model.clone()
        model.reshape({0: list(shape)})
        return self.core.compile_model(model, self.device, {**self.config, **config})

    def infer(self, images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32) / 255 if self.float_input else np.ascontiguousarray(images)
        entry = self._get(x.shape)
        request = entry.pool.get()
        try:
            # The input is handed over as a tensor sharing x's memory rather than copied into the request's
            # own tensor by OpenVINO's data dispatcher: that path was seen to deadlock two requests of one
            # compiled model, and it costs a copy.
            request.set_input_tensor(self._ov.Tensor(x, shared_memory=True))
            request.infer()
            return np.array(request.get_output_tensor(0).data, dtype=np.float32)  # a copy: the request is reused
        finally:
            entry.pool.put(request)
