"""The same detect endpoint as a Ray Serve deployment: replicas across a cluster, requests batched by ``@serve.batch``.

    import ray
    from ray import serve
    from yolopt.serve.ray_serve import build_app

    ray.init()
    serve.start(http_options={"host": "127.0.0.1", "port": 8000})
    serve.run(build_app("yolov8n", num_replicas=2), route_prefix="/yolo")
    # POST image bytes (or multipart) to http://127.0.0.1:8000/yolo  ->  the JSON of `yolopt serve`

Exactness is kept as in the server: ``@serve.batch`` hands a replica whatever requests arrived together, the
replica splits them by letterboxed shape, and NMS runs per image with each request's own thresholds. Each
replica runs PyTorch with as many threads as ``yolopt predict`` uses here (see :mod:`yolopt.serve.ray_data`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ..backends.base import cpu_streams
from ..engine import PredictConfig, Prepared
from ..optional import require
from .bodies import read_detect_request
from .protocol import ServeError, detections_from_raw, parse_params, prepare_bytes, public_model_name, response_body

serve = require("ray.serve", "yolopt[ray]")


@serve.deployment(name="yolopt")
class YoloDeployment:
    """One model replica: decode and NMS in a thread pool, batched inference in one inference thread."""

    def __init__(self, model: str = "yolov8n", backend: str = "auto", imgsz: int = 640, conf: float = 0.25,
                 iou: float = 0.7, max_det: int = 300, threads: int = 1, max_batch: int = 16,
                 max_delay_ms: float = 5.0, timeout_ms: float = 10000.0, max_body_mb: float = 20.0):
        import torch

        from ..detector import make_backend
        from .app import warm_up

        torch.set_num_threads(threads)
        self.model = model
        self.backend = make_backend(model, backend, threads=threads)
        warm_up(self.backend, imgsz)
        self.defaults = PredictConfig(imgsz, conf, iou, max_det)
        self.timeout_s = timeout_ms / 1000
        self.max_body = int(max_body_mb * 2**20)
        self.pool = ThreadPoolExecutor(2, thread_name_prefix="yolopt-prep")
        self.infer_pool = ThreadPoolExecutor(1, thread_name_prefix="yolopt-infer")
        self.infer_batched.set_max_batch_size(max_batch)
        self.infer_batched.set_batch_wait_timeout_s(max_delay_ms / 1000)

    async def __call__(self, request: Any) -> Any:
        """POST: detect objects in the body's image; GET: the model's facts."""
        from starlette.responses import JSONResponse

        if request.method == "GET":
            names = self.backend.names
            return JSONResponse({"model": public_model_name(self.model), "backend": self.backend.name, "imgsz": self.defaults.imgsz,
                                 "nc": len(names), "names": {str(k): v for k, v in names.items()}})
        try:
            data, name, query = await read_detect_request(request, self.max_body)
            params = parse_params(query, self.defaults, self.timeout_s, self.backend.names)
            loop = asyncio.get_running_loop()
            prep = await loop.run_in_executor(self.pool, prepare_bytes, data, self.defaults.imgsz, name)
            if prep.error is not None:
                raise ServeError(400, prep.error)
            try:
                raw, batch_size = await asyncio.wait_for(self.infer_batched(prep), params.timeout_s)
            except asyncio.TimeoutError:
                raise ServeError(504, f"timed out after {params.timeout_s * 1000:.0f} ms") from None
            det = await loop.run_in_executor(self.pool, detections_from_raw, raw, prep, params.config,
                                             self.backend.names)
            det.source = name
            return JSONResponse(response_body(det, model=public_model_name(self.model), backend=self.backend.name,
                                              batch_size=batch_size))
        except ServeError as e:
            return JSONResponse({"error": e.reason, "status": e.status}, e.status, headers=e.headers)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.005)
    async def infer_batched(self, preps: list[Prepared]) -> list[tuple[np.ndarray, int]]:
        """Run the requests that arrived together, one backend call per letterboxed shape."""
        loop = asyncio.get_running_loop()
        out: list[Any] = [None] * len(preps)
        groups: dict[tuple, list[int]] = {}
        for i, p in enumerate(preps):
            groups.setdefault(p.chw.shape, []).append(i)  # type: ignore[union-attr]
        for idx in groups.values():
            raw = await loop.run_in_executor(self.infer_pool, self._infer, [preps[i].chw for i in idx])
            for j, i in enumerate(idx):
                out[i] = (raw[j : j + 1], len(preps))
        return out

    def _infer(self, images: list[np.ndarray]) -> np.ndarray:
        """Stack and run one same-shape group (in the inference thread)."""
        return self.backend.infer(np.stack(images))


def build_app(model: str = "yolov8n", backend: str = "auto", num_replicas: int = 1, threads: int | None = None,
              max_batch: int = 16, max_delay_ms: float = 5.0, max_queued_requests: int = 256,
              **options: Any) -> Any:
    """A Ray Serve application of ``model``: bind it with :func:`ray.serve.run`. ``options`` go to the replica
    (imgsz, conf, iou, max_det, timeout_ms, max_body_mb); each replica reserves ``threads`` CPUs."""
    threads = threads or cpu_streams()[1]  # the threads of each of yolopt predict's calls: identical results
    return YoloDeployment.options(
        num_replicas=num_replicas, ray_actor_options={"num_cpus": threads},
        max_ongoing_requests=max(2 * max_batch, 8), max_queued_requests=max_queued_requests,
    ).bind(model=model, backend=backend, threads=threads, max_batch=max_batch, max_delay_ms=max_delay_ms, **options)
