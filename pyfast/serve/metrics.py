"""Prometheus metrics of one service instance (its own registry, so apps do not collide)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64)


class ServiceMetrics:
    """Counters and histograms the service updates; ``registry`` is what /metrics exposes."""

    def __init__(self, waiting: Callable[[], float], running: Callable[[], float]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pyfast_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("pyfast_request_seconds", "Time from request to response, by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_size = Histogram("pyfast_batch_size", "Images per ONNX Runtime call", ["model"],
                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.inference = Histogram("pyfast_batch_seconds", "Time of one batch in the model, with pre/post-processing",
                                   ["model"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rejected = Counter("pyfast_rejected", "Images refused because the queue was full (503)",
                                registry=self.registry)
        self.ws_frames = Counter("pyfast_websocket_frames", "Frames stylised over WebSockets", ["model"],
                                 registry=self.registry)
        self.ws_errors = Counter("pyfast_websocket_errors", "WebSocket messages answered with an error",
                                 registry=self.registry)
        Gauge("pyfast_queue_waiting", "Images waiting for the model", registry=self.registry).set_function(waiting)
        Gauge("pyfast_queue_running", "Images in batches being run", registry=self.registry).set_function(running)

    def observe_batch(self, key: tuple, size: int, seconds: float) -> None:
        model = key[0]
        self.batch_size.labels(model).observe(size)
        self.inference.labels(model).observe(seconds)
