import json

import pytest

from pyfast.bench.masked_conv import QUICK_LAYERS, QUICK_SIZES, format_masked_conv_report, run_masked_conv_suite


def test_quick_suite_runs_end_to_end():
    report = run_masked_conv_suite(quick=True, warmup=0, repeats=1, progress=False)
    json.dumps(report)  # serialisable
    assert report["suite"] == "masked_conv" and report["targets"] == []
    assert len(report["layers"]) == len(QUICK_LAYERS) * len(QUICK_SIZES)
    for layer in report["layers"]:
        assert layer["torch_ms"] > 0 and layer["pyfast_ms"] > 0 and layer["floor_ms"] > 0
    sampling = report["sampling"]
    assert sampling["naive_extrapolated"] is False and sampling["samples_equal"] is True
    assert sampling["speedup"] > 0
    nll = report["heldout_nll"]
    # The shipped binary PixelCNN: far below the 28*28*ln 2 = 543 nats of a coin flip per pixel.
    assert nll["variant"] == "binary" and 20 < nll["nll_nats"] < 150
    text = format_masked_conv_report(report)
    assert "| total" in text and "cached (compiled)" in text and "held-out" in text


def test_bad_arguments():
    with pytest.raises(ValueError, match="device"):
        run_masked_conv_suite(device="tpu", quick=True, progress=False)
    with pytest.raises(ValueError, match="repeats"):
        run_masked_conv_suite(repeats=0, quick=True, progress=False)
