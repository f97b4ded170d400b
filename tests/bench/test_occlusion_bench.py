"""The occlusion suite runs end to end on tiny sizes (a harness check, not speed)."""

import pytest

from pyfast.bench.occlusion import format_occlusion_report, run_occlusion_suite


@pytest.mark.slow  # exports a ResNet-18 to ONNX
def test_occlusion_suite_quick():
    report = run_occlusion_suite(quick=True, progress=False)
    methods = {(r["case"], r["method"]) for r in report["results"]}
    assert methods == {(c, m) for c in ("classifier", "resnet18")
                       for m in ("captum", "pyfast torch", "pyfast onnxruntime", "pyfast incremental")}
    assert all(r["seconds"] > 0 and r["max_abs_diff"] <= 1e-4 for r in report["results"])
    text = format_occlusion_report(report)
    assert "pyfast onnxruntime" in text and "vs captum" in text
