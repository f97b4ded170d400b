"""Guided backprop against the rule written out by hand, for every way a model applies ReLU."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyfast.explain.guided import GuidedReLUMode, guided_backprop
from pyfast.explain.saliency import gradient

from .test_saliency import CallerState, tiny_cnn


def vjp(f, inp: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    """grad_out^T d f / d inp (the layers between ReLUs are linear in eval mode)."""
    inp = inp.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(f(inp), inp, grad_out)
    return g


def hand_guided_backprop(model, x: torch.Tensor, target: list[int]) -> torch.Tensor:
    """Forward with explicit ReLU masks, backward keeping a gradient only where the forward input
    of the ReLU was positive and the gradient arriving from above is positive."""
    model = model.eval()
    with torch.no_grad():
        a1 = model.conv1(x)
        h1 = a1 * (a1 > 0)
        a2 = model.bn(model.conv2(h1))
        h2 = a2 * (a2 > 0)
        scores = model.fc(F.adaptive_avg_pool2d(h2, 2).flatten(1))
    onehot = torch.zeros_like(scores)
    onehot[torch.arange(len(target)), torch.tensor(target)] = 1.0
    g_h2 = vjp(lambda h: model.fc(F.adaptive_avg_pool2d(h, 2).flatten(1)), h2, onehot)
    g_a2 = g_h2 * (a2 > 0) * (g_h2 > 0)
    g_h1 = vjp(lambda h: model.bn(model.conv2(h)), h1, g_a2)
    g_a1 = g_h1 * (a1 > 0) * (g_h1 > 0)
    return vjp(model.conv1, x, g_a1)


@pytest.mark.parametrize("relu", ["module", "inplace", "functional"])
def test_guided_backprop_equals_the_hand_computed_rule(relu):
    model, x = tiny_cnn(relu), torch.randn(2, 3, 8, 8)
    expected = hand_guided_backprop(tiny_cnn(relu), x, [1, 3])
    state = CallerState(model, x)
    result = guided_backprop(model, x, target=[1, 3])
    state.assert_unchanged()
    assert result.shape == (2, 3, 8, 8) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected.numpy(), rtol=1e-5, atol=1e-7)
    # the rule really differs from the plain gradient on this network
    assert not np.allclose(result, gradient(model, x, target=[1, 3]), atol=1e-6)


def test_tensor_relu_methods_are_guided_too():
    class Methods(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = tiny_cnn("module")

        def forward(self, x):
            m = self.inner
            a = m.conv1(x).relu()
            a = m.bn(m.conv2(a)).relu_()
            return m.fc(F.adaptive_avg_pool2d(a, 2).flatten(1))

    model, x = Methods(), torch.randn(1, 3, 8, 8)
    expected = hand_guided_backprop(tiny_cnn("module"), x, [2])
    np.testing.assert_allclose(guided_backprop(model, x, target=2), expected.numpy(), rtol=1e-5, atol=1e-7)


def test_mode_is_gone_afterwards_even_after_an_error():
    class Broken(nn.Module):
        def forward(self, x):
            return F.relu(x).flatten(1)[:, :0].sum(1)  # 1-D output: not class scores

    with pytest.raises(ValueError, match="class scores"):
        guided_backprop(Broken(), torch.randn(1, 1, 2, 2))
    x = torch.randn(4, requires_grad=True)
    (g,) = torch.autograd.grad(F.relu(x).sum() * -1.0, x)
    assert torch.equal(g, -(x > 0).float())  # ordinary ReLU backward: negative gradients pass


def test_mode_leaves_other_ops_alone():
    x = torch.randn(5, requires_grad=True)
    with GuidedReLUMode():
        y = torch.sigmoid(x) * 2
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, 2 * torch.sigmoid(x) * (1 - torch.sigmoid(x)))


def test_bad_target_raises():
    with pytest.raises(ValueError, match="out of range"):
        guided_backprop(tiny_cnn(), torch.randn(1, 3, 8, 8), target=-1)
