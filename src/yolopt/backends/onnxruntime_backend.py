"""ONNX Runtime backend: an exported ``.onnx`` on the CPU (or any execution provider), batched for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..export.metadata import parse_names
from .base import resolve_streams
from ..optional import require

_FLOAT_INPUTS = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class ORTBackend:
    """Runs an ONNX model with ONNX Runtime, all graph optimisations on, ``streams`` calls at once.

    Batches go through in one call: measured on yolov8n (CPU EP, 1 and 2 threads, 448x640), an image's
    output is bit-identical at batch 1, 2, 3 and 8 — MLAS computes each image's convolutions on its own
    — so batching costs no exactness (tests/test_backends.py checks it). Graphs with a float input (e.g.
    Ultralytics exports) get the images divided by 255 here; yolopt's own take uint8.
    """

    name = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, providers: list[str] | None = None,
                 streams: int | None = None):
        ort = require("onnxruntime", "yolopt[onnx]", "the onnxruntime backend")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ``streams`` concurrent run() calls (the session is thread-safe) of ``threads`` threads each
        self.concurrency, opts.intra_op_num_threads = resolve_streams(streams, threads)
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=providers or ["CPUExecutionProvider"])
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name = inp.name
        self.input_dtype = _FLOAT_INPUTS.get(inp.type)  # None: uint8, fed as is
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = dict(meta)
        nc = out.shape[1] - 4 if isinstance(out.shape[1], int) else None
        if "names" not in meta and nc is None:  # no metadata, symbolic rows: run a tiny input to count them
            nc = self.infer(np.full((1, 3, 32, 32), 114, np.uint8)).shape[1] - 4
        self.names = parse_names(meta, nc)
        self.precision = meta.get("precision", "fp32")

    def infer(self, images: np.ndarray) -> np.ndarray:
        x = images if self.input_dtype is None else (images.astype(np.float32) / 255).astype(self.input_dtype)
        return self.session.run(None, {self.input_name: x})[0].astype(np.float32, copy=False)
