"""The Gatys benchmark suite runs end to end on a tiny size (harness checks, not speed)."""

import pytest
import torch

from pyfast.bench.gatys import (
    LAYER_SETS,
    PlainGatysLoss,
    conv_flops,
    format_gatys_report,
    run_gatys_suite,
)
from pyfast.explain.gatys import GatysLoss
from pyfast.models import VGG16Features
from pyfast.style.losses import CONTENT_LAYER
from tests.helpers import assert_rel_close


def test_gatys_suite_quick():
    report = run_gatys_suite("cpu", image_size=32, quick=True, progress=False)
    cases = {(r["layers"], r["optimizer"], r["implementation"]) for r in report["results"]}
    assert cases == {(ls, opt, impl) for ls in LAYER_SETS for opt in ("lbfgs", "adam")
                     for impl in ("pyfast", "plain PyTorch")}
    assert all(r["iterations_per_second"] > 0 for r in report["results"])
    assert len(report["targets"]) == 4
    assert all(t["measured"] > 0 and t["target"] == 1.3 for t in report["targets"])
    text = format_gatys_report(report)
    assert "random-feature preset | adam" in text and "x " in text


@pytest.mark.parametrize("layer_set", list(LAYER_SETS))
def test_plain_formulation_matches_pyfast(layer_set):
    """Both sides of the benchmark optimise the same objective."""
    net = VGG16Features(width=0.125)
    style_layers, weights = LAYER_SETS[layer_set]
    content, style = torch.rand(1, 3, 32, 32) * 255, torch.rand(1, 3, 32, 32) * 255
    x = (content + 10 * torch.randn_like(content)).requires_grad_(True)
    fast = GatysLoss(net, style, content, (CONTENT_LAYER,), style_layers, weights)(x)
    plain = PlainGatysLoss(net, style, content, (CONTENT_LAYER,), style_layers, weights)(x)
    for k in ("content", "style", "tv", "total"):
        torch.testing.assert_close(fast[k], plain[k], rtol=1e-4, atol=1e-6)
    grad_fast, = torch.autograd.grad(fast["total"], x)
    grad_plain, = torch.autograd.grad(plain["total"], x)
    # Frobenius-norm relative error: a ReLU or max-pool tie may flip on a few pixels.
    assert_rel_close(grad_fast, grad_plain, rtol=1e-3)


def test_conv_flops_counts_forward_and_input_gradient():
    net = VGG16Features()
    # conv1_1 and conv1_2 at 16x16: 2 * (3*64 + 64*64) * 9 * 256 FLOPs forward, doubled for the gradient.
    assert conv_flops(net, ("rgb", "relu1_2"), (16, 16)) == 2 * 2 * (3 * 64 + 64 * 64) * 9 * 256
