import json

import pytest

from pyfast.bench.serve import format_serve_report, run_serve_suite


@pytest.mark.slow
def test_serve_suite_runs_end_to_end_on_tiny_sizes():
    report = run_serve_suite(clients=2, quick=True, progress=False)
    json.dumps(report)
    modes = {r["mode"]: r for r in report["results"]}
    assert set(modes) == {"dynamic batching", "batch size 1"}
    assert all(r["throughput_rps"] > 0 and r["errors"] == 0 for r in modes.values())
    assert modes["batch size 1"]["mean_batch"] == 1.0
    assert set(report["engine_ms_per_image"]) == {"1", "8"}
    assert all(ms > 0 for ms in report["engine_ms_per_image"].values())
    text = format_serve_report(report)
    assert "requests/s" in text and "p99 ms" in text and "ceiling of batching" in text
