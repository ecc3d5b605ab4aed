"""The HTTP app (Starlette): detect, health, metrics and model routes over one model and one dynamic batcher."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..backends.base import Backend
from ..engine import PredictConfig
from ..optional import require
from .batcher import DynamicBatcher
from .bodies import read_detect_request
from .metrics import ServeMetrics
from .protocol import ServeError, parse_params, public_model_name, response_body

log = logging.getLogger("yolopt.serve")


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``yolopt serve`` is started with."""

    model: str = "yolov8n"
    backend: str = "auto"  # from the model file, as yolopt predict
    imgsz: int = 640
    conf: float = 0.25
    iou: float = 0.7
    max_det: int = 300
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 16
    max_delay_ms: float = 5.0
    max_queue: int = 256
    timeout_ms: float = 10000.0
    max_body_mb: float = 20.0
    workers: int = 2  # decode/letterbox/NMS threads
    log_level: str = "info"
    access_log: bool = False
    max_megapixels: float = 100.0  # larger images are refused from their header (413), never decoded
    header_timeout_s: float = 10.0  # a connection must send complete request headers within this
    max_header_kb: int = 64  # request line + headers larger than this: 431/400 and the connection closed
    precision: str | None = None  # backend options (None: the backend's default), e.g. from a deploy.json recipe
    streams: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.defaults()  # validates thresholds and imgsz
        if self.max_batch < 1 or self.max_queue < 1 or self.workers < 1:
            raise ValueError("--max-batch, --max-queue and --workers must be >= 1")
        if self.max_delay_ms < 0 or self.timeout_ms <= 0 or self.max_body_mb <= 0:
            raise ValueError("--max-delay-ms must be >= 0, --timeout-ms and --max-body-mb > 0")
        if self.max_megapixels <= 0 or self.header_timeout_s <= 0 or self.max_header_kb < 1:
            raise ValueError("--max-megapixels, --header-timeout-s and --max-header-kb must be > 0")

    def defaults(self) -> PredictConfig:
        """The thresholds a request gets when it names none."""
        return PredictConfig(self.imgsz, self.conf, self.iou, self.max_det)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def max_pixels(self) -> int:
        return int(self.max_megapixels * 1_000_000)


def warm_up(backend: Backend, imgsz: int) -> float:
    """Run the backend once per common input shape so the first requests don't pay for kernel selection;
    returns the fastest single-image time seen (the first estimate of the per-image cost)."""
    short = math.ceil(imgsz * 0.75 / 32) * 32
    best = math.inf
    for h, w in {(imgsz, imgsz), (short, imgsz), (imgsz, short)}:
        t = time.perf_counter()
        backend.infer(np.full((1, 3, h, w), 114, np.uint8))
        best = min(best, time.perf_counter() - t)
    return best


class ServerState:
    """The model, the batcher and the readiness of one app; loaded in the background so liveness answers at once."""

    def __init__(self, cfg: ServeConfig, on_load_failure: Callable[[], None] | None = None):
        self.cfg = cfg
        self.metrics = ServeMetrics()
        self.backend: Backend | None = None
        self.batcher: DynamicBatcher | None = None
        self.status = "loading"
        self.error: str | None = None
        self._on_load_failure = on_load_failure

    async def load(self) -> None:
        """Load the model and warm it up off the event loop, then start batching."""
        from ..detector import make_backend

        try:
            t = time.perf_counter()
            cfg = self.cfg
            backend = await asyncio.to_thread(make_backend, cfg.model, cfg.backend, cfg.imgsz, precision=cfg.precision,
                                              streams=cfg.streams, threads=cfg.threads)
            seed_s = await asyncio.to_thread(warm_up, backend, self.cfg.imgsz)
        except Exception as e:
            self.status, self.error = "failed", f"cannot load model {self.cfg.model!r}: {type(e).__name__}: {e}"
            log.error(self.error)
            if self._on_load_failure:
                self._on_load_failure()
            return
        self.backend = backend
        self.batcher = DynamicBatcher(backend, self.cfg.imgsz, self.cfg.max_batch, self.cfg.max_delay_ms / 1000,
                                      self.cfg.max_queue, self.cfg.workers, self.metrics, self.cfg.max_pixels, seed_s)
        self.batcher.start()
        self.status = "ready"
        self.metrics.ready.set(1)
        log.info("model %s (%s backend) loaded and warmed up in %.1fs: ready", self.cfg.model, backend.name,
                 time.perf_counter() - t)

    async def close(self) -> None:
        """Stop admitting requests and finish the admitted ones."""
        self.status = "shutting down"
        self.metrics.ready.set(0)
        if self.batcher is not None:
            await self.batcher.close()


#: Status recorded for a request whose client disconnected before its answer (nginx's convention).
CLIENT_GONE = 499


async def until_disconnect(request: Any, work: Any) -> Any:
    """Await ``work`` unless the client disconnects first; then cancel it (its queued work is dropped) and
    raise Starlette's ``ClientDisconnect``. The body must have been read: the next ASGI message is the disconnect."""
    from starlette.requests import ClientDisconnect

    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(request.receive())
    try:
        done, _ = await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if task not in done and gone.result().get("type") == "http.disconnect":
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise ClientDisconnect()
        return await task
    finally:
        gone.cancel()


def create_app(cfg: ServeConfig, on_load_failure: Callable[[], None] | None = None) -> Any:
    """A Starlette app serving ``cfg.model``; the model loads in the background after startup."""
    require("starlette", "yolopt[serve]")
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state = ServerState(cfg, on_load_failure)

    def not_ready() -> ServeError:
        reason = state.error or f"model is {state.status}"
        return ServeError(503, reason, {"Retry-After": "1"})

    def error_response(e: ServeError) -> JSONResponse:
        return JSONResponse({"error": e.reason, "status": e.status}, e.status, headers=e.headers)

    async def detect(request: Request) -> Response:
        t0 = time.perf_counter()
        status = 500
        try:
            batcher, backend = state.batcher, state.backend
            if batcher is None or backend is None or state.status != "ready":
                raise not_ready()
            try:
                body, name, query = await asyncio.wait_for(read_detect_request(request, cfg.max_body_bytes),
                                                           cfg.timeout_ms / 1000)
            except asyncio.TimeoutError:
                raise ServeError(408, "request body not received in time", {"Connection": "close"}) from None
            params = parse_params(query, cfg.defaults(), cfg.timeout_ms / 1000, backend.names)
            det, timing = await until_disconnect(request, batcher.detect(body, params, name))
            status = 200
            timing_ms = {k: round(v * 1000, 2) for k, v in asdict(timing).items() if k != "batch_size"}
            return JSONResponse(response_body(det, model=public_model_name(cfg.model), backend=backend.name,
                                              batch_size=timing.batch_size, timing_ms=timing_ms))
        except ServeError as e:
            status = e.status
            return error_response(e)
        except ClientDisconnect:  # the client left: nobody to answer, and not a server error
            status = CLIENT_GONE
            return Response(status_code=CLIENT_GONE)
        except Exception as e:  # never let one request take the server down
            log.exception("detect failed")
            return error_response(ServeError(500, f"internal error: {type(e).__name__}: {e}"))
        finally:
            state.metrics.observe_request(status, time.perf_counter() - t0)

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def ready(request: Request) -> Response:
        if state.status == "ready":
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": state.status, "error": state.error}, 503, headers={"Retry-After": "1"})

    async def metrics(request: Request) -> Response:
        if state.batcher is not None:
            state.metrics.queue_depth.set(state.batcher.depth)
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    async def model(request: Request) -> Response:
        if state.backend is None:
            return error_response(not_ready())
        names = state.backend.names
        return JSONResponse({
            "model": public_model_name(cfg.model), "backend": state.backend.name, "imgsz": cfg.imgsz, "nc": len(names),
            "names": {str(k): v for k, v in names.items()},
            "defaults": {"conf": cfg.conf, "iou": cfg.iou, "max_det": cfg.max_det},
            "batching": {"max_batch": cfg.max_batch, "max_delay_ms": cfg.max_delay_ms, "max_queue": cfg.max_queue,
                         "timeout_ms": cfg.timeout_ms, "max_body_mb": cfg.max_body_mb},
        })

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        loading = asyncio.create_task(state.load())
        try:
            yield
        finally:
            if not loading.done():
                await loading
            await state.close()

    app = Starlette(routes=[
        Route("/v1/detect", detect, methods=["POST"]),
        Route("/v1/model", model, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ], lifespan=lifespan)
    app.state.yolopt = state
    return app
