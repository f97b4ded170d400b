"""Dynamic batching: jobs from many callers, grouped by key, run in worker threads."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


class QueueFull(RuntimeError):
    """The batcher holds ``queue_size`` waiting jobs already (back-pressure)."""


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and takes no new jobs."""


@dataclass
class _Job:
    payload: Any
    future: Future
    arrived: float = field(default_factory=time.perf_counter)


class DynamicBatcher:
    """Collects jobs into batches of equal key and runs them off the caller's thread.

    A worker takes the key of the oldest waiting job and waits until that job is
    ``max_delay_s`` old or ``max_batch`` jobs of that key are waiting, whichever is
    first; then it calls ``run_batch(key, payloads)`` with up to ``max_batch``
    payloads (arrival order) and resolves each job's future with its result. Jobs of
    other keys wait for the next turn, so only compatible jobs (same model, same image
    size) share a call. Cancelled futures (a caller gave up) are dropped unrun.

    Args:
        run_batch: ``(key, payloads) -> results``, one result per payload, same order.
            An exception fails every job of the batch.
        max_batch: most payloads per call (>= 1).
        max_delay_s: longest wait of a batch's first job for company (>= 0).
        queue_size: most jobs waiting (not yet running); ``submit`` raises QueueFull beyond.
        workers: threads running batches (>= 1).
        on_batch: called after each batch with ``(key, size, seconds)``, e.g. for metrics.

    Raises:
        ValueError: an argument out of range.
    """

    def __init__(self, run_batch: Callable[[Hashable, list[Any]], Sequence[Any]], max_batch: int = 8,
                 max_delay_s: float = 0.01, queue_size: int = 64, workers: int = 1,
                 on_batch: Callable[[Hashable, int, float], None] | None = None, name: str = "batcher") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_delay_s < 0:
            raise ValueError(f"max_delay_s must be >= 0, got {max_delay_s}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self.queue_size = queue_size
        self.on_batch = on_batch
        self._pending: OrderedDict[Hashable, deque[_Job]] = OrderedDict()
        self._waiting = 0
        self._running = 0
        self._closing = False
        self._cond = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet running."""
        return self._waiting

    @property
    def running(self) -> int:
        """Jobs in batches being run now."""
        return self._running

    def submit(self, key: Hashable, payload: Any) -> Future:
        """Queues one job; its future gets ``run_batch``'s result for it.

        Raises:
            QueueFull: ``queue_size`` jobs are waiting. BatcherClosed: after ``close``.
        """
        job = _Job(payload, Future())
        with self._cond:
            if self._closing:
                raise BatcherClosed("the service is shutting down")
            if self._waiting >= self.queue_size:
                raise QueueFull(f"{self._waiting} images are waiting for the model")
            self._pending.setdefault(key, deque()).append(job)
            self._waiting += 1
            self._cond.notify()
        return job.future

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Takes no new jobs; the workers finish every queued job, then stop."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in self._threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _next_batch(self) -> tuple[Hashable, list[_Job]] | None:
        """Blocks until a batch is due; None when closing with nothing left."""
        with self._cond:
            while True:
                while not self._pending:
                    if self._closing:
                        return None
                    self._cond.wait()
                key = min(self._pending, key=lambda k: self._pending[k][0].arrived)
                deadline = self._pending[key][0].arrived + self.max_delay_s
                while (key in self._pending and len(self._pending[key]) < self.max_batch and not self._closing
                       and (left := deadline - time.perf_counter()) > 0):
                    self._cond.wait(left)
                queue = self._pending.get(key)
                if not queue:  # another worker took them
                    continue
                jobs = [queue.popleft() for _ in range(min(self.max_batch, len(queue)))]
                if not queue:
                    del self._pending[key]
                self._waiting -= len(jobs)
                self._running += len(jobs)
                return key, jobs

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            key, jobs = batch
            live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            start = time.perf_counter()
            results: Sequence[Any] = []
            failure: BaseException | None = None
            try:
                if live:
                    results = self.run_batch(key, [job.payload for job in live])
                    if len(results) != len(live):
                        raise RuntimeError(f"run_batch returned {len(results)} results for {len(live)} payloads")
            except BaseException as exc:  # every caller of the batch learns why it failed
                failure = exc
            # Counters first, so that a caller who has its result also sees it counted.
            with self._cond:
                self._running -= len(jobs)
            if live and failure is None and self.on_batch is not None:
                self.on_batch(key, len(live), time.perf_counter() - start)
            for i, job in enumerate(live):
                if failure is None:
                    job.future.set_result(results[i])
                else:
                    job.future.set_exception(failure)
