"""``pyfast bench serve``: the service's dynamic batching against batch size 1.

A real server runs in-process on loopback; ``clients`` concurrent clients (closed loop,
each sends its next image when the previous one is answered) post 256x256 JPEG images
to a shipped style model for a fixed time. The two configurations take turns for
``rounds`` rounds (load drifts on a shared machine hit both alike); each reports the
median throughput over its rounds and the latency percentiles over all its requests.

The report also times the model alone through :class:`pyfast.runtime.Engine` at batch
1 and at the maximum batch (milliseconds per image): batching can raise throughput
only as far as the engine's cost per image falls with the batch size (plus the
per-request work it overlaps), so that ratio is the ceiling to read the result against.
"""

from __future__ import annotations

import io
import statistics

import numpy as np

from .machine import describe_machine
from .report import markdown_table
from .timing import time_alternating

MODES = {"dynamic batching": None, "batch size 1": 1}  # None: the suite's max_batch


def _jpeg(size: int, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    gradient = np.linspace(0, 255, size, dtype=np.float32)
    rgb = np.stack([np.add.outer(gradient, gradient) / 2, np.tile(gradient, (size, 1)), rng.uniform(0, 255, (size, size))], -1)
    buffer = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def run_serve_suite(clients: int = 16, image_size: int = 256, model: str = "mosaic", max_batch: int = 8,
                    max_delay_ms: float = 10.0, seconds: float = 8.0, rounds: int = 2, providers: str = "cpu",
                    quick: bool = False, progress: bool = True) -> dict:
    """Throughput and latency of dynamic batching vs batch size 1; a JSON-serialisable report.

    Args:
        clients: concurrent clients. image_size: side of the square test image (the model runs at it).
        model: a shipped model name. max_batch, max_delay_ms: the dynamic batching settings.
        seconds: load per round and mode. rounds: alternations of the two modes.
        quick: tiny sizes and times (checks the harness, not the speed).

    Raises:
        ValueError: an argument out of range or an unknown model.
    """
    from tqdm.auto import tqdm

    from ..serve import ServeConfig
    from ..serve.loadgen import run_load
    from ..serve.server import BackgroundServer
    from ..zoo import get_style

    get_style(model)
    for name, value, minimum in (("clients", clients, 1), ("image_size", image_size, 5), ("max_batch", max_batch, 1),
                                 ("rounds", rounds, 1)):
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if quick:
        clients, image_size, seconds, rounds = min(clients, 4), 32, 1.0, 1
    body = _jpeg(image_size)
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    jobs = [(r, mode) for r in range(rounds) for mode in MODES]
    for _, mode in tqdm(jobs, desc="bench serve", unit="run", disable=not progress, leave=False):
        config = ServeConfig(port=0, max_size=image_size, max_batch=MODES[mode] or max_batch, max_delay_ms=max_delay_ms,
                             queue_size=max(64, 4 * clients), providers=providers)
        with BackgroundServer(config) as server:
            run_load(f"{server.url}/v1/stylize/{model}", body, clients=clients, duration_s=min(1.0, seconds))  # warm-up
            result = run_load(f"{server.url}/v1/stylize/{model}", body, clients=clients, duration_s=seconds)
            batches = server.app.state.service.metrics.batch_size.labels(model)
        summary = result.summary()
        summary["mean_batch"] = _mean_batch(batches)
        runs[mode].append(summary)
        latencies[mode] += result.latencies_ms
    results = []
    for mode in MODES:
        ms = sorted(latencies[mode])
        results.append({
            "mode": mode, "max_batch": MODES[mode] or max_batch,
            "throughput_rps": statistics.median(r["throughput_rps"] for r in runs[mode]),
            "p50_ms": _percentile(ms, 50), "p99_ms": _percentile(ms, 99),
            "mean_batch": statistics.mean(r["mean_batch"] for r in runs[mode]),
            "errors": sum(sum(v for k, v in r["statuses"].items() if k != "200") + r["failures"] for r in runs[mode]),
            "runs": runs[mode],
        })
    ratio = results[0]["throughput_rps"] / results[1]["throughput_rps"] if results[1]["throughput_rps"] else float("nan")
    engine_ms = _engine_ms_per_image(get_style(model).onnx, image_size, (1, max_batch), providers, 3 if quick else 9)
    return {
        "suite": "serve",
        "machine": describe_machine(_cpu()),
        "settings": {"clients": clients, "image_size": image_size, "model": model, "max_batch": max_batch,
                     "max_delay_ms": max_delay_ms, "seconds": seconds, "rounds": rounds, "providers": providers},
        "results": results,
        "engine_ms_per_image": engine_ms,
        "targets": [] if quick else [{"name": f"dynamic batching / batch size 1 throughput, {clients} clients, "
                                             f"{image_size}x{image_size}", "measured": ratio, "target": 1.5}],
    }


def _engine_ms_per_image(onnx_path, image_size: int, batches: tuple[int, ...], providers: str,
                         repeats: int) -> dict[str, float]:
    """Median milliseconds per image of the model alone, per batch size (keys are the batch sizes as strings)."""
    from ..runtime import Engine

    engine = Engine(onnx_path, providers=providers)
    rng = np.random.default_rng(0)
    timed = {}
    for batch in dict.fromkeys(batches):
        x = rng.uniform(0, 255, (batch, 3, image_size, image_size)).astype(np.float32)
        timed[f"batch {batch}"] = lambda x=x: engine.run(x)
    seconds = time_alternating(timed, _cpu(), warmup=1, repeats=repeats)
    return {name.split()[1]: t * 1e3 / int(name.split()[1]) for name, t in seconds.items()}


def _cpu():
    import torch

    return torch.device("cpu")


def _mean_batch(histogram) -> float:
    """Mean batch size from a prometheus Histogram child (sum / count)."""
    samples = {s.name.rsplit("_", 1)[-1]: s.value for metric in histogram.collect() for s in metric.samples
               if s.name.endswith(("_sum", "_count"))}
    return samples["sum"] / samples["count"] if samples.get("count") else 0.0


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(round(q / 100 * (len(sorted_ms) - 1))))]


def format_serve_report(report: dict) -> str:
    machine = report["machine"]
    s = report["settings"]
    lines = [f"Machine: {machine['cpu']}, {machine['cores']} cores. {s['clients']} concurrent clients, "
             f"{s['image_size']}x{s['image_size']} JPEG -> PNG, model {s['model']}, {s['rounds']} round(s) of "
             f"{s['seconds']:g} s per mode (median throughput; latency over all requests).", "",
             markdown_table(["mode", "max batch", "requests/s", "p50 ms", "p99 ms", "mean batch", "errors"], [
                 [r["mode"], r["max_batch"], f"{r['throughput_rps']:.2f}", f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}",
                  f"{r['mean_batch']:.1f}", r["errors"]] for r in report["results"]])]
    engine = report.get("engine_ms_per_image")
    if engine:
        first = engine[min(engine, key=int)]
        lines += ["", "The model alone (Engine, same providers), milliseconds per image: " + ", ".join(
            f"batch {b}: {ms:.1f}" for b, ms in engine.items())
            + f"; ceiling of batching from the engine: {first / engine[max(engine, key=int)]:.2f}x."]
    if report["targets"]:
        lines += ["", markdown_table(["target", "measured", "goal", "met"], [
            [t["name"], f"{t['measured']:.2f}", f"≥ {t['target']:g}", "yes" if t["measured"] >= t["target"] else "NO"]
            for t in report["targets"]])]
    return "\n".join(lines)
