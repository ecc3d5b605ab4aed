"""Prometheus metrics of one server, on its own registry (no process-global state, so apps and tests don't collide)."""

from __future__ import annotations

from ..optional import require

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 7.5, 10.0, 20.0, 60.0)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128)


class ServeMetrics:
    """The collectors the server updates: requests by status, latency, queue time, batch size, depth, inference."""

    def __init__(self) -> None:
        prom = require("prometheus_client", "yolopt[serve]")
        self._prom = prom
        self.registry = prom.CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = prom.Counter("yolopt_requests_total", "Detect requests answered, by HTTP status.",
                                     ["status"], registry=r)
        self.latency = prom.Histogram("yolopt_request_duration_seconds",
                                      "Detect request time from body received to answer, by HTTP status.",
                                      ["status"], buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_time = prom.Histogram("yolopt_queue_seconds",
                                         "Time an image waited between admission and the start of its batch.",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.batch_size = prom.Histogram("yolopt_batch_size", "Images per inference batch.",
                                         buckets=_BATCH_BUCKETS, registry=r)
        self.inference = prom.Histogram("yolopt_inference_seconds", "Backend time per inference batch.",
                                        buckets=_LATENCY_BUCKETS, registry=r)
        self.preprocess = prom.Histogram("yolopt_preprocess_seconds", "Decode + letterbox time per image.",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.queue_depth = prom.Gauge("yolopt_queue_depth",
                                      "Requests admitted and not yet answered (bounded by --max-queue).", registry=r)
        self.ready = prom.Gauge("yolopt_ready", "1 once the model is loaded and warmed up.", registry=r)

    def observe_request(self, status: int, seconds: float) -> None:
        """Count one answered detect request and its latency."""
        self.requests.labels(str(status)).inc()
        self.latency.labels(str(status)).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return self._prom.generate_latest(self.registry), self._prom.CONTENT_TYPE_LATEST
