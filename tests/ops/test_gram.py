import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfast.ops import GramMatrix, gram_matrix, reference
from tests.helpers import assert_rel_close

shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 70), st.integers(1, 23), st.integers(1, 29)
)


def exact_gram(x, normalize=True):
    return reference.gram_matrix(x.double(), normalize)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, normalize=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_forward_matches_float64_reference(shape, normalize, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    out = gram_matrix(x, normalize=normalize)
    assert out.shape == (shape[0], shape[1], shape[1]) and out.dtype == torch.float32
    assert_rel_close(out, exact_gram(x, normalize), 1e-5)
    assert torch.equal(out, out.transpose(1, 2)), "the Gram matrix must be exactly symmetric"


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1))
def test_backward_matches_float64_reference(shape, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, requires_grad=True)
    grad_g = torch.randn(shape[0], shape[1], shape[1], generator=g)
    (gx,) = torch.autograd.grad(gram_matrix(x), x, grad_g)
    xd = x.detach().double().requires_grad_()
    (expected,) = torch.autograd.grad(exact_gram(xd), xd, grad_g.double())
    assert_rel_close(gx, expected, 1e-5)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 5, 3, 7), (1, 9, 17, 5), (3, 66, 4, 4)])
@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck_float64(shape, normalize):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: gram_matrix(t, normalize), (x,))


def test_large_reduction_stays_accurate():
    # VGG relu1_2-like: many more pixels than channels, long reductions.
    x = torch.rand(1, 64, 128, 128)
    assert_rel_close(gram_matrix(x), exact_gram(x), 1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda x: x.to(memory_format=torch.channels_last),
        lambda x: x.transpose(2, 3),
        lambda x: x[:, :, ::2, 1:],
        lambda x: x.expand(3, -1, -1, -1),
    ],
    ids=["channels_last", "transposed", "strided", "expanded"],
)
def test_any_layout(make):
    base = torch.randn(1, 6, 10, 8, dtype=torch.float64)
    x = make(base).requires_grad_()
    out = gram_matrix(x)
    assert_rel_close(out, exact_gram(x.detach()), 1e-12)
    out.sum().backward()
    xd = x.detach().clone().requires_grad_()
    exact_gram(xd).sum().backward()
    assert_rel_close(x.grad, xd.grad, 1e-12)


def test_float64_output_dtype_and_no_input_change():
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    before = x.clone()
    assert gram_matrix(x).dtype == torch.float64
    assert torch.equal(x, before)


def test_half_precision_uses_reference():
    x = torch.randn(2, 4, 5, 6).to(torch.bfloat16)
    out = gram_matrix(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, reference.gram_matrix(x))


def test_module_equals_function():
    x = torch.randn(2, 7, 9, 4)
    for normalize in (True, False):
        m = GramMatrix(normalize=normalize)
        assert torch.equal(m(x), gram_matrix(x, normalize=normalize))
        assert f"normalize={normalize}" in repr(m)


@pytest.mark.parametrize(
    "x, error, message",
    [
        (torch.randn(3, 8), ValueError, r"x must be 4-D \(B, C, H, W\), got shape \(3, 8\)"),
        (torch.randn(1, 2, 3, 4, 5), ValueError, "got shape"),
        (torch.ones(1, 2, 3, 3, dtype=torch.int64), TypeError, "torch.int64"),
        (torch.ones(1, 2, 3, 3, dtype=torch.bool), TypeError, "torch.bool"),
        (torch.randn(0, 2, 3, 3), ValueError, r"zero-size dimension, got shape \(0, 2, 3, 3\)"),
        (torch.randn(1, 2, 0, 3), ValueError, "zero-size"),
        ([[1.0]], TypeError, "must be a torch.Tensor, got list"),
    ],
)
def test_bad_input(x, error, message):
    with pytest.raises(error, match=message):
        gram_matrix(x)


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 3, 5, 7), (2, 64, 33, 31), (4, 130, 16, 16), (1, 512, 32, 32)])
def test_cuda_matches_reference(shape, dtype):
    x = torch.randn(shape, dtype=dtype, device="cuda", requires_grad=True)
    grad_g = torch.randn(shape[0], shape[1], shape[1], dtype=dtype, device="cuda")
    out = gram_matrix(x)
    (gx,) = torch.autograd.grad(out, x, grad_g)
    xd = x.detach().double().cpu().requires_grad_()
    expected = exact_gram(xd)
    (expected_gx,) = torch.autograd.grad(expected, xd, grad_g.double().cpu())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert_rel_close(out, expected, tol)
    assert_rel_close(gx, expected_gx, tol)


@pytest.mark.cuda
def test_cuda_gradcheck():
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (x,))
