"""INT8 activation ranges chosen by quantization error, not by the extremes seen in calibration.

YOLOv8's activations are heavy-tailed (a stem convolution's outputs reach +-150 while half of them lie within
+-1): a per-tensor int8 range spanning the extremes gives the bulk of the values steps as coarse as the values
themselves. Here each activation's range is the one that minimises the expected squared error of uniform
int8 quantization (values clipped outside it, step^2 / 12 noise inside), estimated from a histogram of the
tensor's values on the calibration images, as TensorRT's and NNCF's MSE range estimators do.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Histogram resolution per tensor, and the number of candidate range ends tried on each side of zero.
BINS = 2048
GRID = 128


def mse_range(hist: np.ndarray, lo: float, hi: float, levels: int = 255, grid: int = GRID) -> tuple[float, float]:
    """The (min, max) minimising clipping error plus step^2 / 12 for values histogrammed over [lo, hi]."""
    bins = len(hist)
    width = (hi - lo) / bins
    centres = lo + (np.arange(bins) + 0.5) * width
    p = hist / max(int(hist.sum()), 1)
    zero = int(np.clip((0.0 - lo) / width, 0, bins - 1))  # both ends stay on their side of zero
    mins = lo + np.unique(np.linspace(0, zero, grid).astype(int)) * width
    maxs = lo + (np.unique(np.linspace(zero, bins - 1, grid).astype(int)) + 1) * width
    best = (np.inf, lo, hi)
    for a in mins:  # every max at once for this min
        clipped = np.clip(centres[None, :], a, maxs[:, None])
        err = (((centres - clipped) ** 2) * p).sum(1) + ((maxs - a) / levels) ** 2 / 12
        i = int(np.argmin(err))
        if err[i] < best[0]:
            best = (float(err[i]), float(a), float(maxs[i]))
    return best[1], best[2]


def activation_histograms(buf: bytes, inputs: list[np.ndarray], bounds: dict[str, tuple[float, float]],
                          bins: int = BINS) -> dict[str, np.ndarray]:
    """Histograms over ``bounds[name]`` of every op output named in ``bounds`` (and the graph input), summed over
    ``inputs`` run through the float .tflite ``buf`` one at a time."""
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.schema_py_generated import ModelT

    graph = ModelT.InitFromPackedBuf(bytearray(buf), 0).subgraphs[0]
    produced = {graph.tensors[i].name.decode() for op in graph.operators for i in op.outputs}
    produced |= {graph.tensors[i].name.decode() for i in graph.inputs}  # activations, not weights
    with warnings.catch_warnings():  # "intended for debugging": keeping every tensor is the point here
        warnings.simplefilter("ignore", UserWarning)
        it = Interpreter(model_content=buf, experimental_preserve_all_tensors=True, num_threads=1)
    it.allocate_tensors()
    index = {t["name"]: t["index"] for t in it.get_tensor_details()}
    names = [k for k, (lo, hi) in bounds.items() if k in produced and k in index and hi > lo]
    hists = {k: np.zeros(bins, np.int64) for k in names}
    for x in inputs:
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        for k in names:
            hists[k] += np.histogram(it.get_tensor(index[k]), bins, bounds[k])[0]
    return hists


def mse_ranges(buf: bytes, inputs: list[np.ndarray], extremes: dict[str, dict]) -> dict[str, dict]:
    """``extremes`` (the quantizer's per-tensor {"min", "max"} over the calibration images) with each
    activation's range replaced by :func:`mse_range` of its values on ``inputs``; weights keep theirs."""
    scalar = {k: (float(np.min(v["min"])), float(np.max(v["max"]))) for k, v in extremes.items()
              if np.size(v["min"]) == 1}
    hists = activation_histograms(buf, inputs, scalar)
    out = {k: {"min": v["min"], "max": v["max"]} for k, v in extremes.items()}
    for k, h in hists.items():
        if h.sum():
            a, b = mse_range(h, *scalar[k])
            out[k] = {"min": np.full(np.shape(extremes[k]["min"]), a, np.float32),
                      "max": np.full(np.shape(extremes[k]["max"]), b, np.float32)}
    return out
