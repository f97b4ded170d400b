"""A closed-loop load generator for the service: N clients, each sending its next request
when the previous one is answered, for a fixed time (used by the load test and
``pyfast bench serve``)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    """What ``run_load`` saw: statuses, latencies of successful requests, throughput."""

    clients: int
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)  # 200 responses only
    failures: list[str] = field(default_factory=list)  # transport errors, one line each

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the successful requests' latency in ms (nan if none)."""
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[min(98, max(0, round(q) - 1))]

    def summary(self) -> dict:
        return {"clients": self.clients, "seconds": round(self.seconds, 3), "requests_ok": self.ok,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())}, "failures": len(self.failures),
                "throughput_rps": self.throughput, "p50_ms": self.percentile(50), "p99_ms": self.percentile(99)}


async def _load(url: str, body: bytes, clients: int, duration_s: float, headers: dict[str, str]) -> LoadResult:
    import httpx

    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60.0, headers=headers) as client:
        start = time.perf_counter()
        stop_at = start + duration_s

        async def one_client() -> None:
            while time.perf_counter() < stop_at:
                sent = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers={"content-type": "application/octet-stream"})
                except httpx.HTTPError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    latencies.append((time.perf_counter() - sent) * 1e3)
                elif response.status_code == 503:
                    await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 0.05))

        await asyncio.gather(*(one_client() for _ in range(clients)))
        seconds = time.perf_counter() - start
    return LoadResult(clients, seconds, dict(statuses), latencies, failures)


def run_load(url: str, body: bytes, clients: int = 16, duration_s: float = 5.0, token: str | None = None) -> LoadResult:
    """POSTs ``body`` to ``url`` from ``clients`` concurrent clients for ``duration_s`` seconds.

    A client that gets 503 waits briefly (a short Retry-After) before its next request.

    Raises:
        ValueError: ``clients`` < 1 or ``duration_s`` <= 0.
    """
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return asyncio.run(_load(url, body, clients, duration_s, headers))
