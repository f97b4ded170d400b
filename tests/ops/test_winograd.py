import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pyfast.ops import conv3x3_frozen
from pyfast.ops import winograd as winograd_module

# Largest entry-wise error allowed, relative to the largest entry of the exact result.
# Measured: <= 1e-6 for these shapes (Winograd F(2x2,3x3) in float32 vs float64 direct).
TOL = 1e-5

shapes = st.tuples(
    st.integers(1, 3),  # N
    st.integers(1, 40),  # Cin
    st.integers(1, 37),  # Cout
    st.integers(1, 35),  # H
    st.integers(1, 35),  # W
)


def max_rel_error(actual: torch.Tensor, exact: torch.Tensor) -> float:
    return ((actual.double() - exact).abs().max() / exact.abs().max().clamp_min(1e-300)).item()


def frozen_conv(shape, seed, with_bias=True):
    n, cin, cout, h, w = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, cin, h, w, generator=g)
    weight = torch.randn(cout, cin, 3, 3, generator=g) / (9 * cin) ** 0.5
    bias = torch.randn(cout, generator=g) if with_bias else None
    return x, weight, bias


def exact_conv(x, weight, bias):
    return F.conv2d(x.double(), weight.double(), None if bias is None else bias.double(), padding=1)


@settings(max_examples=40, deadline=None)
@given(shape=shapes, with_bias=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_forward_matches_conv2d(shape, with_bias, seed):
    x, weight, bias = frozen_conv(shape, seed, with_bias)
    out = conv3x3_frozen(x, weight, bias)
    assert out.shape == (shape[0], shape[2], shape[3], shape[4]) and out.dtype == torch.float32
    assert max_rel_error(out, exact_conv(x, weight, bias)) <= TOL


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2**31 - 1))
def test_grad_input_matches_conv2d(shape, seed):
    x, weight, bias = frozen_conv(shape, seed)
    x.requires_grad_()
    grad_out = torch.randn(shape[0], shape[2], shape[3], shape[4], generator=torch.Generator().manual_seed(seed + 1))
    (gx,) = torch.autograd.grad(conv3x3_frozen(x, weight, bias), x, grad_out)
    xd = x.detach().double().requires_grad_()
    (expected,) = torch.autograd.grad(exact_conv(xd, weight, bias), xd, grad_out.double())
    assert max_rel_error(gx, expected) <= TOL


def test_vgg_sized_layer_is_accurate():
    x, weight, bias = frozen_conv((1, 256, 256, 32, 32), seed=3)
    assert max_rel_error(conv3x3_frozen(x, weight, bias), exact_conv(x, weight, bias)) <= TOL


def test_channels_last_input_keeps_its_layout():
    x, weight, bias = frozen_conv((2, 19, 21, 13, 18), seed=1)
    x_cl = x.to(memory_format=torch.channels_last)
    out = conv3x3_frozen(x_cl, weight, bias)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert max_rel_error(out, exact_conv(x, weight, bias)) <= TOL


def test_non_contiguous_input():
    x, weight, bias = frozen_conv((2, 8, 5, 20, 30), seed=2)
    view = x.transpose(2, 3)  # (N, C, 30, 20), non-contiguous
    assert max_rel_error(conv3x3_frozen(view, weight, bias), exact_conv(view, weight, bias)) <= TOL


def test_cache_follows_in_place_updates_and_leaves_caller_tensors_alone():
    x, weight, bias = frozen_conv((1, 6, 7, 9, 9), seed=4)
    x_before, w_before = x.clone(), weight.clone()
    conv3x3_frozen(x, weight, bias)
    assert torch.equal(x, x_before) and torch.equal(weight, w_before)
    with torch.no_grad():
        weight.mul_(-2.0)
    assert max_rel_error(conv3x3_frozen(x, weight, bias), exact_conv(x, weight, bias)) <= TOL


def test_cache_entry_is_dropped_with_its_weight():
    x, weight, _ = frozen_conv((1, 3, 4, 6, 6), seed=5)
    conv3x3_frozen(x, weight)
    key = id(weight)
    assert key in winograd_module._cache
    del weight
    assert key not in winograd_module._cache


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_other_dtypes_fall_back_to_conv2d(dtype):
    x, weight, bias = frozen_conv((2, 4, 5, 7, 6), seed=6)
    x, weight, bias = x.to(dtype), weight.to(dtype), bias.to(dtype)
    try:
        expected = F.conv2d(x, weight, bias, padding=1)
    except RuntimeError:
        pytest.skip(f"F.conv2d has no CPU {dtype} kernel in this torch")
    assert torch.equal(conv3x3_frozen(x, weight, bias), expected)


def test_float64_gradcheck():
    x = torch.randn(1, 3, 5, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: conv3x3_frozen(t, weight), (x,))


def test_tracing_uses_conv2d():
    x, weight, bias = frozen_conv((1, 3, 4, 8, 8), seed=7)
    traced = torch.jit.trace(lambda t: conv3x3_frozen(t, weight, bias), (x,))
    assert any(node.kind() == "aten::_convolution" for node in traced.graph.nodes())
    assert max_rel_error(traced(x), exact_conv(x, weight, bias)) <= TOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_uses_conv2d():
    x, weight, bias = (t.cuda() for t in frozen_conv((2, 5, 6, 9, 9), seed=8))
    assert torch.allclose(conv3x3_frozen(x, weight, bias), F.conv2d(x, weight, bias, padding=1))


def test_bad_inputs():
    x, weight, bias = frozen_conv((1, 4, 5, 6, 6), seed=9)
    with pytest.raises(ValueError, match="weight requires grad"):
        conv3x3_frozen(x, weight.clone().requires_grad_(), bias)
    with pytest.raises(ValueError, match="bias requires grad"):
        conv3x3_frozen(x, weight, bias.clone().requires_grad_())
    with pytest.raises(ValueError, match=r"weight must be \(Cout, Cin, 3, 3\)"):
        conv3x3_frozen(x, torch.randn(5, 4, 5, 5))
    with pytest.raises(ValueError, match="input channels"):
        conv3x3_frozen(x, torch.randn(5, 3, 3, 3))
    with pytest.raises(ValueError, match="bias must have shape"):
        conv3x3_frozen(x, weight, torch.randn(4))
    with pytest.raises(ValueError, match="x must be 4-D"):
        conv3x3_frozen(x[0], weight)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        conv3x3_frozen(x, weight.tolist())
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        conv3x3_frozen(x.long(), weight)


def test_kernel_checks_its_arguments():
    from torch.utils.dlpack import to_dlpack

    from pyfast._ext import extension

    x, weight, _ = frozen_conv((1, 4, 5, 6, 6), seed=10)
    packed = torch.empty(16, 1, 4, 8)
    extension.winograd_transform_weight(to_dlpack(weight), to_dlpack(packed))
    with pytest.raises(ValueError, match="packed"):
        extension.winograd_conv3x3(to_dlpack(x), to_dlpack(torch.empty(16, 1, 3, 8)), None,
                                   to_dlpack(torch.empty(1, 5, 6, 6)))
    with pytest.raises(ValueError, match="float32"):
        extension.winograd_conv3x3(to_dlpack(x.double()), to_dlpack(packed), None,
                                   to_dlpack(torch.empty(1, 5, 6, 6, dtype=torch.float64)))
    with pytest.raises(ValueError, match="out"):
        extension.winograd_conv3x3(to_dlpack(x), to_dlpack(packed), None, to_dlpack(torch.empty(1, 5, 6, 7)))


def test_vgg_fast_convs_match_the_default_path():
    from pyfast.models import VGG16Features

    torch.manual_seed(11)
    plain, fast = VGG16Features(width=0.125), VGG16Features(width=0.125, fast_convs=True)
    x = (torch.rand(2, 3, 34, 30) * 255).requires_grad_()
    expected, got = plain(x), fast(x)
    for name in expected:
        assert max_rel_error(got[name], expected[name].double()) <= TOL
    total = sum(f.square().mean() for f in got.values())
    (gx,) = torch.autograd.grad(total, x)
    (ex,) = torch.autograd.grad(sum(f.square().mean() for f in expected.values()), x)
    assert max_rel_error(gx, ex.double()) <= 1e-4
