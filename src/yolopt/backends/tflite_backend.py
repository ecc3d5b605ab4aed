"""LiteRT (TFLite) backend: a yolopt ``.tflite`` on LiteRT's CPU interpreter (XNNPACK), one interpreter per stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..export.metadata import parse_names
from ..optional import require
from .base import resolve_streams
from .static_shape import Pool, pad_to


class TFLiteBackend:
    """Runs a .tflite written by :func:`yolopt.export.tflite.export_tflite` (NHWC uint8 in, raw head out).

    The file has a static input shape: each image is padded bottom-right to it and runs as its own call,
    so an image's result does not depend on its batch. ``streams`` interpreters of ``threads`` threads run
    side by side.
    """

    name = "tflite"

    def __init__(self, path: str | Path, threads: int | None = None, streams: int | None = None,
                 allow_nms: bool = False):
        interpreter = require("ai_edge_litert.interpreter", "yolopt[tflite]", "the tflite backend")
        from ..export.tflite import read_metadata

        self.path = Path(path)
        buf = self.path.read_bytes()
        self.metadata = read_metadata(buf)
        if "nms" in self.metadata and not allow_nms:
            raise ValueError(f"{path} ends in NMS (exported with --nms) for apps; yolopt runs the raw-output "
                             "export (without --nms)")
        self.concurrency, n_threads = resolve_streams(streams, threads)

        def make():
            it = interpreter.Interpreter(model_content=buf, num_threads=n_threads)
            it.allocate_tensors()
            return it

        self._pool = Pool(make, self.concurrency)
        with self._pool.lend() as it:
            inp, out = it.get_input_details()[0], it.get_output_details()[0]
        self._in, self._out = inp["index"], out["index"]
        scale, zero = out.get("quantization", (0.0, 0))
        self._dequant = (scale, zero) if scale and np.issubdtype(out["dtype"], np.integer) else None
        _, self.height, self.width, _ = (int(v) for v in inp["shape"])
        self.imgsz = max(self.height, self.width)
        self.names = parse_names(self.metadata, int(out["shape"][1]) - 4 if "nms" not in self.metadata else None)
        self.precision = self.metadata.get("precision", "fp32")

    def infer(self, images: np.ndarray) -> np.ndarray:
        x = pad_to(images, self.height, self.width).transpose(0, 2, 3, 1)
        with self._pool.lend() as it:
            outs = []
            for i in range(x.shape[0]):
                it.set_tensor(self._in, np.ascontiguousarray(x[i : i + 1]))
                it.invoke()
                outs.append(it.get_tensor(self._out)[0])
        y = np.stack(outs).astype(np.float32, copy=False)
        if self._dequant:  # an integer output (a fully quantized graph): back to real values
            y = (y - self._dequant[1]) * self._dequant[0]
        return y
