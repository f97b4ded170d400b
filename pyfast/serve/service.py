"""What the HTTP and WebSocket endpoints share: models, the batcher, metrics, the
request pipeline (decode -> fit -> batched model -> finish -> encode)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from .._checks import check_fraction, check_int
from ..data.images import fit_within, resize
from ..runtime.stylize import finish_output, to_model_input
from .batcher import DynamicBatcher
from .codec import decode_image, encode_image
from .config import ServeConfig
from .metrics import ServiceMetrics
from .models import ModelStore


class RequestTimeout(TimeoutError):
    """A request ran past ``request_timeout_s``."""


@dataclass(frozen=True)
class StyleJob:
    """One image for the batcher: (H, W, 3) uint8 content and how to finish it."""

    rgb: np.ndarray
    strength: float = 1.0
    preserve_color: bool = False


@dataclass(frozen=True)
class StyleRequest:
    """A client's options, checked."""

    model: str
    max_size: int
    strength: float = 1.0
    preserve_color: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", check_fraction(self.strength, "strength"))  # frozen: keep the checked
        object.__setattr__(self, "max_size", check_int(self.max_size, "max_size", 5))


class StyleService:
    """Models, batcher and metrics of one running service.

    ``start`` loads every model (``ready`` turns true); ``stop`` refuses new work and
    finishes what is queued or running.
    """

    def __init__(self, config: ServeConfig, store: ModelStore | None = None) -> None:
        self.config = config
        self.store = store or ModelStore(config.models_dir, providers=config.providers, threads=config.threads)
        self.batcher: DynamicBatcher | None = None
        self.metrics = ServiceMetrics(waiting=lambda: self.batcher.waiting if self.batcher else 0,
                                      running=lambda: self.batcher.running if self.batcher else 0)
        self.ready = False
        self.client_stats: dict = {}  # the last stats a webcam page reported (test mode)

    def start(self) -> None:
        self.store.load_all()
        self.batcher = DynamicBatcher(self._run_batch, max_batch=self.config.max_batch,
                                      max_delay_s=self.config.max_delay_ms / 1e3, queue_size=self.config.queue_size,
                                      workers=self.config.workers, on_batch=self.metrics.observe_batch,
                                      name="pyfast-serve")
        self.ready = True

    def stop(self) -> None:
        self.ready = False
        if self.batcher is not None:
            self.batcher.close(wait=True, timeout=self.config.request_timeout_s)

    def _run_batch(self, key: tuple, jobs: list[StyleJob]) -> list[np.ndarray]:
        """Runs same-model, same-size images in one ONNX Runtime call (a batcher worker thread)."""
        frames = np.stack([job.rgb for job in jobs])
        raw = self.store.engine(key[0]).run(to_model_input(frames))
        return [finish_output(frames[i:i + 1], raw[i:i + 1], job.strength, job.preserve_color)[0]
                for i, job in enumerate(jobs)]

    def prepare(self, data: bytes, max_size: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Image bytes -> (H, W, 3) uint8 RGB scaled to ``max_size`` (at most the service's
        own), and its alpha channel scaled alike (None for an opaque image)."""
        rgb, alpha = decode_image(data, self.config.max_pixels)
        h, w = fit_within(*rgb.shape[:2], min(max_size, self.config.max_size))
        if min(h, w) < 5:
            from .codec import ImageError

            raise ImageError(f"image is {rgb.shape[1]}x{rgb.shape[0]}; the model needs both sides >= 5 pixels after scaling")
        return resize(rgb, h, w), (resize(alpha[..., None], h, w)[..., 0] if alpha is not None else None)

    async def stylize(self, data: bytes, request: StyleRequest, fmt: str, started: float | None = None) -> bytes:
        """The whole pipeline for one image; decoding and encoding run in threads.

        Raises:
            UnknownModel, ImageError, QueueFull, BatcherClosed, RequestTimeout.
        """
        from starlette.concurrency import run_in_threadpool

        started = time.perf_counter() if started is None else started
        self.store.info(request.model)
        if self.batcher is None or not self.ready:
            from .batcher import BatcherClosed

            raise BatcherClosed("the service is not ready")
        rgb, alpha = await run_in_threadpool(self.prepare, data, request.max_size)
        future = self.batcher.submit((request.model, *rgb.shape[:2]),
                                     StyleJob(rgb, request.strength, request.preserve_color))
        left = self.config.request_timeout_s - (time.perf_counter() - started)
        try:
            styled = await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(left, 1e-3))
        except asyncio.TimeoutError:
            future.cancel()
            raise RequestTimeout(f"no result within {self.config.request_timeout_s:g} s") from None
        return await run_in_threadpool(encode_image, styled, fmt, alpha=alpha)
