import torch

from pyfast.bench import kernels
from pyfast.bench.report import markdown_table
from pyfast.bench.timing import time_alternating


def test_time_alternating_measures_each_function():
    calls = {"a": 0, "b": 0}

    def a():
        calls["a"] += 1

    def b():
        calls["b"] += 1
        sum(range(20000))

    t = time_alternating({"a": a, "b": b}, torch.device("cpu"), warmup=1, repeats=7, rounds=3)
    assert calls == {"a": 7 + 3, "b": 7 + 3}  # timed + one warm-up per round
    assert 0 < t["a"] < t["b"]


def test_markdown_table_aligns_columns():
    table = markdown_table(["name", "ms"], [["x", 1.5], ["longer", 12.25]])
    lines = table.splitlines()
    assert lines == [
        "| name   |   ms |",
        "|--------|-----:|",
        "| x      |  1.5 |",
        "| longer | 12.2 |",
    ]


def _case(op, mode, torch_ms, pyfast_ms, kernel_ms=None, floor_ms=None, label="l"):
    return kernels.CaseResult(
        op, label, (1, 1, 1, 1), mode, torch_ms, pyfast_ms, torch_ms / pyfast_ms,
        kernel_ms or pyfast_ms, "u", 1.0, 1.0, 1.0, floor_ms,
    )


def test_targets_use_totals_over_shapes():
    results = [
        _case("gram_matrix", "fwd", 10, 5),
        _case("gram_matrix", "fwd", 10, 10),  # total 20 / 15
        _case("gram_matrix", "fwd+bwd", 30, 10),
        _case("gram_matrix", "fwd+bwd", 30, 14),  # total 60 / 24 = 2.5
        _case("total_variation", "fwd+bwd", 6, 1, kernel_ms=0.5, floor_ms=0.2, label="4x3x256x256"),
    ]
    checks = {c.name: c for c in kernels._targets(results, torch.device("cpu"), quick=False)}
    gram_fb = checks["Gram fwd+bwd speedup, total over shapes"]
    assert gram_fb.measured == 2.5 and gram_fb.met
    gram_f = checks["Gram fwd speedup, total over shapes"]
    assert abs(gram_f.measured - 20 / 15) < 1e-12 and not gram_f.met
    floor = checks["TV fwd+bwd kernel time / copy floor at 4x3x256x256"]
    assert floor.measured == 2.5 and floor.met
    assert checks["TV fwd+bwd speedup at 4x3x256x256"].met


def test_quick_suite_reports_every_case():
    report = kernels.run_kernel_suite("cpu", warmup=0, repeats=1, quick=True, progress=False)
    assert {(c["op"], c["mode"]) for c in report["cases"]} == {
        ("gram_matrix", "fwd"), ("gram_matrix", "fwd+bwd"),
        ("total_variation", "fwd"), ("total_variation", "fwd+bwd"),
    }
    assert all(c["torch_ms"] > 0 and c["pyfast_ms"] > 0 and c["kernel_ms"] > 0 for c in report["cases"])
    assert report["targets"] == []
    assert "machine" in report and report["peaks"]["gemm_gflops"]["float32"] > 0
