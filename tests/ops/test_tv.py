import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfast.ops import TotalVariation, reference, total_variation
from tests.helpers import assert_rel_close

shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 40), st.integers(1, 70))
betas = st.sampled_from([2.0, 1.0, 1.5, 0.5, 3.0, 0.0])
reductions = st.sampled_from(["sum", "mean", "none"])


def naive_tv(x, beta, eps=1e-8):
    """Loop-level definition, independent of the vectorised reference."""
    b, c, h, w = x.shape
    out = torch.zeros(b, dtype=torch.float64)
    xd = x.double()
    for n in range(b):
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    dx = xd[n, ch, i, j + 1] - xd[n, ch, i, j] if j + 1 < w else 0.0
                    dy = xd[n, ch, i + 1, j] - xd[n, ch, i, j] if i + 1 < h else 0.0
                    s = float(dx) ** 2 + float(dy) ** 2
                    out[n] += s if beta == 2.0 else (s + eps) ** (beta / 2)
    return out


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.7])
def test_reference_matches_definition(beta):
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(reference.total_variation(x, beta, "none"), naive_tv(x, beta))
    torch.testing.assert_close(total_variation(x, beta, "none"), naive_tv(x, beta))


def test_beta2_is_the_cs231n_formula():
    x = torch.randn(3, 3, 11, 13, dtype=torch.float64)
    cs231n = ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum() + ((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()
    torch.testing.assert_close(total_variation(x), cs231n)


@settings(max_examples=60, deadline=None)
@given(shape=shapes, beta=betas, reduction=reductions, seed=st.integers(0, 2**31 - 1))
def test_forward_backward_match_float64_reference(shape, beta, reduction, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, requires_grad=True)
    out = total_variation(x, beta=beta, reduction=reduction)
    xd = x.detach().double().requires_grad_()
    expected = reference.total_variation(xd, beta, reduction)
    assert out.shape == expected.shape and out.dtype == torch.float32
    assert_rel_close(out, expected, 1e-5)
    grad = torch.randn(out.shape, generator=g)
    (gx,) = torch.autograd.grad(out, x, grad)
    (expected_gx,) = torch.autograd.grad(expected, xd, grad.double())
    if expected_gx.norm() > 0:
        assert_rel_close(gx, expected_gx, 1e-5)
    else:
        assert gx.abs().max() == 0


@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5, 3.0])
@pytest.mark.parametrize("reduction", ["sum", "mean", "none"])
@pytest.mark.parametrize("shape", [(2, 3, 6, 7), (1, 1, 1, 9), (1, 2, 9, 1), (1, 1, 1, 1), (1, 1, 3, 35)])
def test_gradcheck_float64(beta, reduction, shape):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: total_variation(t, beta, reduction), (x,))


def test_gradient_finite_on_flat_image_for_small_beta():
    x = torch.zeros(1, 1, 8, 8, requires_grad=True)
    total_variation(x, beta=1.0).backward()
    assert torch.isfinite(x.grad).all()
    # every flat pixel contributes eps^(beta/2)
    torch.testing.assert_close(total_variation(x.detach(), beta=1.0, eps=1e-6), torch.tensor(64 * 1e-3))


def test_mean_divides_by_number_of_terms():
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    torch.testing.assert_close(total_variation(x, reduction="mean"), total_variation(x) / x.numel())


def test_large_image_stays_accurate():
    x = torch.rand(1, 3, 512, 512)
    assert_rel_close(total_variation(x), reference.total_variation(x.double()), 1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.to(memory_format=torch.channels_last),
        lambda x: x.transpose(2, 3),
        lambda x: x[:, :, 1::2, ::3],
    ],
    ids=["channels_last", "transposed", "strided"],
)
def test_any_layout(make):
    x = make(torch.randn(2, 3, 12, 14, dtype=torch.float64)).requires_grad_()
    out = total_variation(x, beta=1.5, reduction="none")
    xd = x.detach().clone().requires_grad_()
    expected = reference.total_variation(xd, 1.5, "none")
    assert_rel_close(out, expected, 1e-12)
    out.sum().backward()
    expected.sum().backward()
    assert_rel_close(x.grad, xd.grad, 1e-12)


def test_module_equals_function_and_forwards_options():
    x = torch.randn(2, 3, 8, 9)
    m = TotalVariation(beta=1.5, reduction="none", eps=1e-4)
    assert torch.equal(m(x), total_variation(x, beta=1.5, reduction="none", eps=1e-4))
    assert "beta=1.5" in repr(m) and "'none'" in repr(m)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(x=torch.randn(3, 8, 8)), ValueError, r"got shape \(3, 8, 8\)"),
        (dict(x=torch.ones(1, 1, 3, 3, dtype=torch.int32)), TypeError, "torch.int32"),
        (dict(x=torch.ones(1, 1, 3, 3, dtype=torch.bool)), TypeError, "torch.bool"),
        (dict(x=torch.randn(1, 1, 0, 3)), ValueError, "zero-size"),
        (dict(x=torch.randn(1, 1, 3, 3), reduction="max"), ValueError, r"reduction must be one of 'sum', 'mean', 'none', got 'max'"),
        (dict(x=torch.randn(1, 1, 3, 3), beta=-1.0), ValueError, "beta must be a finite number >= 0, got -1.0"),
        (dict(x=torch.randn(1, 1, 3, 3), beta=math.nan), ValueError, "beta"),
        (dict(x=torch.randn(1, 1, 3, 3), beta="two"), ValueError, "beta must be a number"),
        (dict(x=torch.randn(1, 1, 3, 3), eps=-1e-3), ValueError, "eps"),
    ],
)
def test_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        total_variation(**kwargs)


def test_module_checks_options_at_construction():
    with pytest.raises(ValueError, match="reduction"):
        TotalVariation(reduction="avg")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 17, 33), (1, 3, 300, 257)])
def test_cuda_matches_reference(shape, beta, dtype):
    x = torch.randn(shape, dtype=dtype, device="cuda", requires_grad=True)
    out = total_variation(x, beta=beta, reduction="none")
    grad = torch.randn(shape[0], dtype=dtype, device="cuda")
    (gx,) = torch.autograd.grad(out, x, grad)
    xd = x.detach().double().cpu().requires_grad_()
    expected = reference.total_variation(xd, beta, "none")
    (expected_gx,) = torch.autograd.grad(expected, xd, grad.double().cpu())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert_rel_close(out, expected, tol)
    assert_rel_close(gx, expected_gx, tol)


@pytest.mark.cuda
def test_cuda_gradcheck():
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: total_variation(t, 1.5, "mean"), (x,))
