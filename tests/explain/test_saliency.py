"""Saliency and SmoothGrad; also the tiny models and the "caller's state is untouched" check the
other tests of the gradient methods import."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyfast.explain.saliency import gradient, saliency, smoothgrad


class TinyCNN(nn.Module):
    """conv-ReLU-conv-ReLU-pool-linear; ``relu`` chooses how the ReLUs are applied:
    "module" (nn.ReLU), "inplace" (nn.ReLU(inplace=True)) or "functional" (F.relu)."""

    def __init__(self, relu: str = "module", channels: int = 3, classes: int = 5) -> None:
        super().__init__()
        self.relu = relu
        self.conv1 = nn.Conv2d(channels, 6, 3, padding=1)
        self.act1 = nn.ReLU(inplace=relu == "inplace")
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.act2 = nn.ReLU(inplace=relu == "inplace")
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv1(x)
        a = F.relu(a) if self.relu == "functional" else self.act1(a)
        a = self.bn(self.conv2(a))
        a = F.relu(a) if self.relu == "functional" else self.act2(a)
        return self.fc(F.adaptive_avg_pool2d(a, 2).flatten(1))


def tiny_cnn(relu: str = "module", seed: int = 0, **kw) -> TinyCNN:
    torch.manual_seed(seed)
    model = TinyCNN(relu, **kw)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval vs train mode matters
        model.bn.running_mean.uniform_(-0.2, 0.2)
        model.bn.running_var.uniform_(0.5, 1.5)
    return model.train()


class CallerState:
    """Snapshot of everything a method must leave as it found it."""

    HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")

    def __init__(self, model: nn.Module, x: torch.Tensor) -> None:
        self.model, self.x = model, x
        self.state = {k: v.clone() for k, v in model.state_dict().items()}
        self.training = [m.training for m in model.modules()]
        self.requires_grad = [p.requires_grad for p in model.parameters()]
        self.hooks = [sum(len(getattr(m, h)) for h in self.HOOKS) for m in model.modules()]
        self.x_value, self.x_requires_grad, self.x_version = x.detach().clone(), x.requires_grad, x._version

    def assert_unchanged(self) -> None:
        now = self.model.state_dict()
        assert now.keys() == self.state.keys()
        for k, v in self.state.items():
            assert torch.equal(now[k], v), k
        assert [m.training for m in self.model.modules()] == self.training
        assert [p.requires_grad for p in self.model.parameters()] == self.requires_grad
        assert [sum(len(getattr(m, h)) for h in self.HOOKS) for m in self.model.modules()] == self.hooks
        assert torch.equal(self.x.detach(), self.x_value)
        assert self.x.requires_grad == self.x_requires_grad and self.x._version == self.x_version
        assert self.x.grad is None
        assert all(p.grad is None for p in self.model.parameters())


def autograd_gradient(model: nn.Module, x: torch.Tensor, target: list[int]) -> torch.Tensor:
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    scores = model(x)
    scores[torch.arange(len(target)), torch.tensor(target)].sum().backward()
    return x.grad


def test_saliency_is_gradient_magnitude_max_over_channels():
    model, x = tiny_cnn(), torch.randn(3, 3, 8, 8)
    expected = autograd_gradient(tiny_cnn(), x, [1, 4, 0]).abs().amax(1)
    state = CallerState(model, x)
    result = saliency(model, x, target=[1, 4, 0])
    state.assert_unchanged()
    assert result.shape == (3, 8, 8) and result.dtype == np.float32
    np.testing.assert_allclose(result, expected.numpy(), rtol=1e-5, atol=1e-7)


def test_saliency_defaults_to_the_predicted_class_and_accepts_numpy():
    model, x = tiny_cnn(), torch.randn(2, 3, 8, 8)
    predicted = tiny_cnn().eval()(x).argmax(1).tolist()
    expected = autograd_gradient(tiny_cnn(), x, predicted)
    np.testing.assert_allclose(gradient(model, x.numpy()), expected.numpy(), rtol=1e-5, atol=1e-7)


def test_caller_tensor_with_requires_grad_is_left_alone():
    model, x = tiny_cnn(), torch.randn(1, 3, 8, 8, requires_grad=True)
    state = CallerState(model, x)
    saliency(model, x, target=2)
    smoothgrad(model, x, target=2, samples=2, progress=False)
    state.assert_unchanged()


def test_smoothgrad_without_noise_equals_saliency():
    model, x = tiny_cnn(), torch.randn(2, 3, 8, 8)
    result = smoothgrad(model, x, target=3, samples=3, noise_level=0.0, progress=False)
    np.testing.assert_allclose(result, saliency(model, x, target=3), rtol=1e-5, atol=1e-7)
    squared = smoothgrad(model, x, target=3, samples=2, noise_level=0.0, magnitude="square", progress=False)
    np.testing.assert_allclose(squared, saliency(model, x, target=3) ** 2, rtol=1e-4, atol=1e-9)


def test_smoothgrad_averages_noisy_saliency_maps():
    model, x = tiny_cnn(), torch.randn(1, 3, 8, 8)
    low, high = torch.full((3,), -3.0), torch.full((3,), 3.0)
    result = smoothgrad(model, x, target=0, samples=4, noise_level=0.1, bounds=(low, high), seed=7, progress=False)
    generator = torch.Generator().manual_seed(7)
    expected = torch.zeros(1, 8, 8)
    for _ in range(4):
        noisy = x + 0.1 * 6.0 * torch.randn(x.shape, generator=generator)
        expected += autograd_gradient(tiny_cnn(), noisy, [0]).abs().amax(1) / 4
    np.testing.assert_allclose(result, expected.numpy(), rtol=1e-4, atol=1e-7)
    assert not np.allclose(result, saliency(model, x, target=0))


@pytest.mark.parametrize("call, match", [
    (lambda m: saliency(m, torch.randn(3, 8, 8)), "N, C, H, W"),
    (lambda m: saliency(m, torch.randn(1, 3, 8, 8), target=5), "out of range"),
    (lambda m: saliency(m, torch.randn(2, 3, 8, 8), target=[1, 2, 3]), "one per image"),
    (lambda m: saliency(m, torch.full((1, 3, 8, 8), float("nan"))), "NaN"),
    (lambda m: smoothgrad(m, torch.randn(1, 3, 8, 8), samples=0), "samples"),
    (lambda m: smoothgrad(m, torch.randn(1, 3, 8, 8), noise_level=-1), "noise_level"),
    (lambda m: smoothgrad(m, torch.randn(1, 3, 8, 8), magnitude="cube"), "magnitude"),
    (lambda m: smoothgrad(m, torch.randn(1, 3, 8, 8), bounds=(1.0, 0.0)), "bounds"),
    (lambda m: saliency(nn.Conv2d(3, 2, 1), torch.randn(1, 3, 8, 8)), "class scores"),
])
def test_bad_input_raises(call, match):
    model = tiny_cnn()
    state = CallerState(model, torch.zeros(1))
    with pytest.raises(ValueError, match=match):
        call(model)
    state.assert_unchanged()
