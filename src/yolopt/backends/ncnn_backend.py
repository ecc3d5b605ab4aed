"""NCNN backend: a yolopt ``.param``/``.bin`` on ncnn's CPU runtime through its Python binding."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..export.metadata import parse_names
from ..optional import require
from .base import resolve_streams
from .static_shape import pad_to


class NCNNBackend:
    """Runs an NCNN model written by :func:`yolopt.export.ncnn.export_ncnn` (float CHW 0-255 in, raw head out).

    One ``ncnn.Net`` serves every stream (extractors of one net may run concurrently). FP32 files run with
    ncnn's FP16 storage and arithmetic off, so they match PyTorch; FP16 files run with FP16 storage.
    Each image is padded to the file's static square and runs alone: batch-independent by construction.
    """

    name = "ncnn"

    def __init__(self, path: str | Path, threads: int | None = None, streams: int | None = None):
        ncnn = require("ncnn", "yolopt[ncnn]", "the ncnn backend")
        from ..export.ncnn import INPUT, OUTPUT, read_metadata

        self.path = Path(path)
        self.metadata = read_metadata(self.path)
        if not self.metadata:
            raise ValueError(f"{path}: no yolopt metadata ({self.path.with_suffix('.json').name}) beside it")
        self.concurrency, self.threads = resolve_streams(streams, threads)
        self.precision = self.metadata.get("precision", "fp32")
        fp16 = self.precision == "fp16"
        self.net = ncnn.Net()
        self.net.opt.use_fp16_storage = fp16
        self.net.opt.use_fp16_packed = fp16
        self.net.opt.use_fp16_arithmetic = False  # x86 has no FP16 arithmetic; ARM apps may turn it on
        self.net.opt.num_threads = self.threads
        if self.net.load_param(str(self.path)) or self.net.load_model(str(self.path.with_suffix(".bin"))):
            raise ValueError(f"{path}: ncnn could not load the model (.param and .bin)")
        self._ncnn = ncnn
        self._in, self._out = self.metadata.get("input_blob", INPUT), self.metadata.get("output_blob", OUTPUT)
        self.height = self.width = self.imgsz = int(self.metadata["imgsz"])
        self.names = parse_names(self.metadata)

    def infer(self, images: np.ndarray) -> np.ndarray:
        x = pad_to(images, self.height, self.width).astype(np.float32)
        outs = []
        for i in range(x.shape[0]):
            with self.net.create_extractor() as ex:
                ex.input(self._in, self._ncnn.Mat(x[i]).clone())  # wrapping the array without a copy crashes ncnn
                ret, out = ex.extract(self._out)
                if ret != 0:
                    raise RuntimeError(f"{self.path}: ncnn inference failed (code {ret})")
                outs.append(np.array(out))
        return np.stack(outs).astype(np.float32, copy=False)
