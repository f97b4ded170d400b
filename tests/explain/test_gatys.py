"""Gatys style transfer and texture synthesis: the losses fall, sizes, colour preservation, bad input."""

import numpy as np
import pytest
import torch

from pyfast.data import read_image, resize
from pyfast.explain.gatys import (
    GatysLoss,
    GatysResult,
    style_transfer,
    texture_synthesis,
)
from pyfast.models import VGG16Features
from pyfast.runtime.color import rgb_to_ycbcr
from pyfast.style.losses import LossWeights

SAMPLES = "pyfast/data/samples"
LAYERS = ("rgb", "relu1_2", "relu2_2")  # shallow: fast, and enough for colour and texture


@pytest.fixture(scope="module")
def net():
    return VGG16Features(width=0.125, seed=0)


def _picture(name: str, h: int, w: int) -> np.ndarray:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / SAMPLES
    return resize(read_image(root / name).rgb, h, w)


@pytest.fixture(scope="module")
def content():
    return _picture("chelsea.jpg", 32, 32)


@pytest.fixture(scope="module")
def style():
    # A strongly coloured style: the rocket picture tinted blue.
    rgb = _picture("rocket.jpg", 32, 32).astype(np.float32)
    rgb[..., 2] = 255 - 0.3 * rgb[..., 2]
    rgb[..., 0] *= 0.3
    return rgb.astype(np.uint8)


def _fast(**kw):
    return {"style_layers": LAYERS, "steps": 12, "progress": False} | kw


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_style_transfer_losses_fall(net, content, style, optimizer):
    result = style_transfer(content, style, loss_net=net, optimizer=optimizer, init="noise", tv_weight=1e-6,
                            **_fast(steps=15))
    assert isinstance(result, GatysResult)
    assert result.image.shape == content.shape and result.image.dtype == np.uint8
    assert set(result.losses) == {"content", "style", "tv", "total"}
    assert all(len(v) == 15 for v in result.losses.values())
    for term in ("content", "total"):  # from noise; the style term trades against the content term
        first, last = result.losses[term][0], result.losses[term][-1]
        assert last < 0.5 * first, (term, first, last)
    assert result.losses["tv"][0] > 0
    total = np.array(result.losses["total"])
    assert np.allclose(total, np.sum([result.losses[k] for k in ("content", "style", "tv")], 0), rtol=1e-4)


def test_style_transfer_from_content_trades_content_for_style(net, content, style):
    result = style_transfer(content, style, loss_net=net, **_fast(steps=20))
    style_loss, content_loss = result.losses["style"], result.losses["content"]
    assert content_loss[0] < 1e-6  # starts at the content image
    assert style_loss[-1] < 0.7 * style_loss[0]
    assert result.losses["total"][-1] < result.losses["total"][0]
    assert not np.array_equal(result.image, content)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_texture_synthesis_matches_style(net, style, optimizer):
    result = texture_synthesis(style, size=(24, 40), loss_net=net, optimizer=optimizer, **_fast())
    assert result.image.shape == (24, 40, 3) and result.image.dtype == np.uint8
    assert result.losses["style"][-1] < 0.3 * result.losses["style"][0]
    assert max(result.losses["content"]) == 0.0
    # The synthesised texture takes the texture's colours: its mean colour moves to the texture's.
    noise_mean = np.full(3, 127.5)
    assert np.abs(result.image.mean((0, 1)) - style.mean((0, 1))).sum() < np.abs(noise_mean - style.mean((0, 1))).sum()


def test_multi_scale_returns_requested_size(net, style):
    content = _picture("coffee.jpg", 40, 48)
    result = style_transfer(content, style, loss_net=net, scales=(0.5, 1.0), **_fast(steps=4))
    assert result.image.shape == (40, 48, 3)
    assert result.sizes == [(20, 24), (40, 48)]
    assert len(result.losses["total"]) == 8
    texture = texture_synthesis(style, size=(36, 36), loss_net=net, scales=(0.5, 1.0), **_fast(steps=3))
    assert texture.image.shape == (36, 36, 3) and texture.sizes == [(18, 18), (36, 36)]


def test_preserve_color_keeps_content_chroma(net, content, style):
    kept = style_transfer(content, style, loss_net=net, preserve_color=True, **_fast())
    free = style_transfer(content, style, loss_net=net, **_fast())
    chroma = rgb_to_ycbcr(content)[..., 1:]
    kept_error = np.abs(rgb_to_ycbcr(kept.image)[..., 1:] - chroma).mean()
    free_error = np.abs(rgb_to_ycbcr(free.image)[..., 1:] - chroma).mean()
    assert kept_error < 2.0  # rounding and clipping to 0..255 only
    assert free_error > 4 * kept_error
    # The luminance was stylised: it moved away from the content's.
    assert np.abs(rgb_to_ycbcr(kept.image)[..., 0] - rgb_to_ycbcr(content)[..., 0]).mean() > 1.0


def test_inputs_and_network_unchanged(net, content, style):
    content_copy, style_copy = content.copy(), style.copy()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    strides = {k: v.stride() for k, v in net.state_dict().items()}
    net.train()
    net.features[0].weight.requires_grad_(True)
    try:
        style_transfer(content, style, loss_net=net, **_fast(steps=2))
        texture_synthesis(style, loss_net=net, **_fast(steps=2))
        assert net.training and net.features[0].weight.requires_grad
        assert net.features[0].weight.grad is None
    finally:
        net.eval()
        net.features[0].weight.requires_grad_(False)
    np.testing.assert_array_equal(content, content_copy)
    np.testing.assert_array_equal(style, style_copy)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]) and v.stride() == strides[k], k


def test_default_network_warns_without_weights(content, monkeypatch):
    monkeypatch.delenv("PYFAST_VGG16_WEIGHTS", raising=False)
    small = content[:16, :16].copy()
    with pytest.warns(RuntimeWarning, match="random-feature"):
        result = texture_synthesis(small, steps=1, style_layers=("rgb", "relu1_2"), progress=False)
    assert result.image.shape == (16, 16, 3)


def test_gatys_loss_terms_match_plain_formulation(net, content, style):
    """Compiled Gram/TV and channels-last give the same terms as the plain formulation."""
    from pyfast.style.data import image_tensor

    c, s = image_tensor(content), image_tensor(style)
    weights = LossWeights(content=1.0, style=2.0, tv=1e-5, normalized=True)
    x = c + 10 * torch.randn_like(c)
    fast = GatysLoss(net, s, c, ("relu2_2",), LAYERS, weights)(x)
    plain = GatysLoss(net, s, c, ("relu2_2",), LAYERS, weights, compiled=False, channels_last=False)(x)
    for k in ("content", "style", "tv", "total"):
        torch.testing.assert_close(fast[k], plain[k], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("kwargs, match", [
    ({"content": np.zeros((32, 32, 3), np.float32)}, "content must be an RGB picture"),
    ({"content": np.zeros((32, 32), np.uint8)}, "content must be an RGB picture"),
    ({"style": np.zeros((32, 32, 4), np.uint8)}, "style must be an RGB picture"),
    ({"style": np.zeros((8, 32, 3), np.uint8)}, "at least 16x16"),
    ({"content": [[1, 2, 3]]}, "numpy array"),
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"steps": 2.5}, "steps must be"),
    ({"optimizer": "sgd"}, "optimizer must be one of lbfgs, adam"),
    ({"init": "zeros"}, "init must be one of"),
    ({"lr": 0.0}, "lr must be"),
    ({"style_weight": -1.0}, "style_weight must be"),
    ({"tv_weight": float("nan")}, "tv_weight must be"),
    ({"scales": (1.0, 0.5)}, "scales must be increasing"),
    ({"scales": (0.5,)}, "ending with 1.0"),
    ({"style_layers": ("relu5_3",)}, "style_layers has unknown layer"),
    ({"content_layers": ("conv1",)}, "content_layers has unknown layer"),
    ({"loss_net": 42}, "loss_net must be"),
])
def test_style_transfer_bad_input(net, content, style, kwargs, match):
    args = {"content": content, "style": style, "loss_net": net, "steps": 1, "progress": False} | kwargs
    with pytest.raises(ValueError, match=match):
        style_transfer(args.pop("content"), args.pop("style"), **args)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": (8, 32)}, "size must be"),
    ({"size": (32,)}, "size must be"),
    ({"steps": -3}, "steps must be"),
    ({"optimizer": "LBFGS"}, "optimizer must be"),
    ({"style_layers": ("pool3",)}, "unknown layer"),
    ({"style_layers": ()}, "at least one layer"),
])
def test_texture_synthesis_bad_input(net, style, kwargs, match):
    with pytest.raises(ValueError, match=match):
        texture_synthesis(style, **({"loss_net": net, "steps": 1, "progress": False} | kwargs))
