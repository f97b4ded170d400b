"""Settings of the style-transfer service."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

LOOPBACK_NAMES = ("localhost", "ip6-localhost")
MAX_DELAY_MS = 10_000.0  # longest batching delay accepted (10 s)
MAX_TIMEOUT_S = 3600.0  # longest per-request timeout accepted (1 h)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) only listens on the loopback interface."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs.

    Attributes:
        models_dir: folder of ``.onnx`` style models (its files, not subfolders); None: the shipped zoo.
        host, port: where uvicorn binds (``pyfast serve``; the app itself does not bind).
        max_batch: most images per ONNX Runtime call (1 disables batching).
        max_delay_ms: how long the first image of a batch waits for company.
        queue_size: images waiting for the model before requests get 503 + Retry-After.
        request_timeout_s: a request's limit from arrival to result (504 past it).
        body_timeout_s: how long a client may take to send its whole body (408 past it).
        max_body_bytes: largest request body (413 above it).
        max_pixels: largest decoded image in pixels, checked from the header before decoding.
        max_size: default and largest longer side the model runs at (inputs are scaled down to it).
        token: bearer token; required when ``host`` is not a loopback address.
        providers: ONNX Runtime providers for every model ("auto", "cpu", "cuda", ...).
        threads: ONNX Runtime CPU threads per model (None: ONNX Runtime's default).
        workers: batches run at the same time (threads calling the models).

    Raises:
        ValueError: an out-of-range setting, or a non-loopback host without a token.
    """

    models_dir: str | os.PathLike | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = 8
    max_delay_ms: float = 10.0
    queue_size: int = 64
    request_timeout_s: float = 30.0
    body_timeout_s: float = 30.0
    max_body_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_size: int = 1024
    token: str | None = None
    providers: str = "auto"
    threads: int | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        for name, minimum in (("max_batch", 1), ("queue_size", 1), ("max_body_bytes", 1), ("max_pixels", 25),
                              ("max_size", 5), ("workers", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not 0 <= self.max_delay_ms <= MAX_DELAY_MS:  # also refuses NaN
            raise ValueError(f"max_delay_ms must be in 0..{MAX_DELAY_MS:g}, got {self.max_delay_ms}")
        if not 0 < self.request_timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"request_timeout_s must be in (0, {MAX_TIMEOUT_S:g}], got {self.request_timeout_s}")
        if not 0 < self.body_timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"body_timeout_s must be in (0, {MAX_TIMEOUT_S:g}], got {self.body_timeout_s}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.token is not None and not self.token.strip():
            raise ValueError("token must not be empty")
        if not is_loopback(self.host) and self.token is None:
            raise ValueError(f"host {self.host!r} is not a loopback address: a bearer token is required (--token or $PYFAST_TOKEN)")
        if self.models_dir is not None and not Path(self.models_dir).is_dir():
            raise FileNotFoundError(f"no such models folder: {self.models_dir}")
