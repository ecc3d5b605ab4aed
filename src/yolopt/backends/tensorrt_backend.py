"""TensorRT backend: a yolopt ``.engine`` on an NVIDIA GPU, buffers managed through PyTorch's CUDA allocator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..export.metadata import parse_names
from ..export.tensorrt import read_engine, require_tensorrt


class TensorRTBackend:
    """Runs an engine written by :func:`yolopt.export.tensorrt.export_engine`.

    Each image runs as its own batch of one: TensorRT chooses kernels (tactics) per input shape, and whether an
    image's output is bit-identical across batch sizes has not been verified on a GPU, so per-image calls keep
    the batch-independence rule by construction (as the PyTorch backend does).
    """

    name = "tensorrt"
    concurrency = 1  # one CUDA stream and one execution context

    def __init__(self, path: str | Path, device: str = "cuda:0", verbose: bool = False):
        trt = require_tensorrt()
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.path = Path(path)
        self.metadata, plan = read_engine(path)
        logger = trt.Logger(trt.Logger.INFO if verbose else trt.Logger.WARNING)
        with torch.cuda.device(self.device):
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(plan)
            if self.engine is None:
                raise RuntimeError(f"{path}: TensorRT could not load the engine (built for another GPU or version?)")
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        modes = {n: self.engine.get_tensor_mode(n) for n in names}
        self.input = next(n for n in names if modes[n] == trt.TensorIOMode.INPUT)
        self.output = next(n for n in names if modes[n] == trt.TensorIOMode.OUTPUT)
        self.names = parse_names(self.metadata)
        self.precision = self.metadata.get("precision", "fp32")

    def infer(self, images: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device, non_blocking=True)
            outs = []
            for i in range(x.shape[0]):
                xi = x[i : i + 1]
                self.context.set_input_shape(self.input, tuple(xi.shape))
                y = torch.empty(tuple(self.context.get_tensor_shape(self.output)), dtype=torch.float32,
                                device=self.device)
                self.context.set_tensor_address(self.input, xi.data_ptr())
                self.context.set_tensor_address(self.output, y.data_ptr())
                if not self.context.execute_async_v3(stream.cuda_stream):
                    raise RuntimeError("TensorRT inference failed")
                outs.append(y)
            return torch.cat(outs).cpu().numpy()
