"""Timing primitives: alternating blocks of repeats, medians, device synchronisation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_alternating(
    fns: Mapping[str, Callable[[], object]],
    device: torch.device,
    warmup: int = 2,
    repeats: int = 9,
    rounds: int = 3,
    statistic: Callable[[list[float]], float] = statistics.median,
    min_seconds: float = 0.0,
) -> dict[str, float]:
    """Median seconds of one call of each function, measured in alternating blocks.

    The functions take turns ``rounds`` times; in each turn a function first
    runs ``warmup`` untimed calls, then a block of timed calls (``repeats`` in
    all, spread over the rounds). Blocks measure each function in its steady
    state, as a training loop calls it (allocator and caches warmed by its own
    calls, not by the other function's), while alternation spreads drifts of
    the machine (clock, background load) over all functions alike. With
    ``min_seconds``, each function's blocks are extended until its timed calls
    add up to at least that long, so that fast functions get enough samples
    for a stable median.

    Returns:
        name -> ``statistic`` (default: the median) of the wall-clock seconds of one call.
    """
    rounds = max(1, min(rounds, repeats))
    per_round = [repeats // rounds + (1 if r < repeats % rounds else 0) for r in range(rounds)]
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for count in per_round:
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            spent, done = 0.0, 0
            while done < count or spent < min_seconds / rounds:
                synchronize(device)
                start = time.perf_counter()
                fn()
                synchronize(device)
                elapsed = time.perf_counter() - start
                samples[name].append(elapsed)
                spent += elapsed
                done += 1
    return {name: statistic(values) for name, values in samples.items()}
