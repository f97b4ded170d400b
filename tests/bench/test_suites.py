"""The inference and training suites run end to end on tiny sizes (harness checks, not speed)."""

from pyfast.bench.inference import format_inference_report, run_inference_suite
from pyfast.bench.training import format_training_report, run_training_suite


def test_inference_suite_quick():
    report = run_inference_suite("cpu", quick=True, progress=False, min_seconds=0.01)
    fused = "onnxruntime CPU + pyfast fused"
    ran = ["onnxruntime CPU"] + ([] if fused in report["unavailable"] else [fused])
    backends = {r["backend"] for r in report["results"]}
    assert backends == {"torch eager (cpu)", *ran}
    assert {(r["model"], r["size"]) for r in report["results"]} == {
        (m, s) for m in ("full", "half") for s in ("64x64", "96x80")
    }
    assert all(r["fps"] > 0 for r in report["results"])
    assert [(s["backend"], s["size"]) for s in report["student"]] == [(b, s) for b in ran for s in ("64x64", "96x80")]
    assert all(s["speedup"] == s["full_ms"] / s["half_ms"] > 0 for s in report["student"])
    text = format_inference_report(report)
    assert "| half  | 96x80" in text and "x)" in text
    assert all(f"{b}, the two models alternating" in text for b in ran)


def test_training_suite_small():
    report = run_training_suite("cpu", image_size=32, batch_size=1, repeats=1, progress=False)
    assert {r["loss"] for r in report["results"]} == {"pyfast", "plain PyTorch"}
    target = report["targets"][0]
    assert target["measured"] > 0 and target["target"] == 1.3
    assert "speedup:" in format_training_report(report)
