import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pyfast.ops import MaskedConv2d, masked_conv2d, reference
from tests.helpers import assert_rel_close

cases = st.tuples(
    st.integers(1, 3),  # batch
    st.integers(1, 20),  # in channels
    st.integers(1, 20),  # out channels
    st.integers(1, 12),  # height
    st.integers(1, 12),  # width
    st.sampled_from([1, 3, 5, 7]),
    st.sampled_from(["A", "B"]),
    st.booleans(),  # bias
)


def exact(x, w, b, mask_type, grad):
    """float64 reference output and gradients."""
    leaves = [t.detach().double().requires_grad_() for t in (x, w)] + ([b.detach().double().requires_grad_()] if b is not None else [])
    out = reference.masked_conv2d(leaves[0], leaves[1], leaves[2] if b is not None else None, mask_type)
    grads = torch.autograd.grad(out, leaves, grad.double())
    return out, grads


@settings(max_examples=25, deadline=None)
@given(case=cases, seed=st.integers(0, 2**31 - 1))
def test_matches_float64_reference_with_gradients(case, seed):
    batch, cin, cout, h, w, k, mask_type, has_bias = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, cin, h, w, generator=g, requires_grad=True)
    weight = torch.randn(cout, cin, k, k, generator=g, requires_grad=True)
    bias = torch.randn(cout, generator=g, requires_grad=True) if has_bias else None
    grad = torch.randn(batch, cout, h, w, generator=g)
    out = masked_conv2d(x, weight, bias, mask_type)
    leaves = [x, weight] + ([bias] if has_bias else [])
    grads = torch.autograd.grad(out, leaves, grad)
    expected, expected_grads = exact(x, weight, bias, mask_type, grad)
    assert out.shape == (batch, cout, h, w) and out.dtype == torch.float32
    assert_rel_close(out, expected, 1e-5)
    for got, want in zip(grads, expected_grads):
        assert_rel_close(got, want, 1e-5)


def test_pixelcnn_layer_shapes_match_reference():
    # The benchmark's layer shapes: long reductions, several micro-tiles per image.
    for cin, cout, k, mask_type in [(1, 64, 7, "A"), (64, 64, 3, "B"), (128, 128, 3, "B")]:
        x = torch.randn(2, cin, 28, 28, requires_grad=True)
        w = torch.randn(cout, cin, k, k, requires_grad=True)
        b = torch.randn(cout, requires_grad=True)
        grad = torch.randn(2, cout, 28, 28)
        out = masked_conv2d(x, w, b, mask_type)
        grads = torch.autograd.grad(out, (x, w, b), grad)
        expected, expected_grads = exact(x, w, b, mask_type, grad)
        assert_rel_close(out, expected, 1e-5)
        for got, want in zip(grads, expected_grads):
            assert_rel_close(got, want, 1e-5)


@pytest.mark.parametrize(
    "batch, cin, cout, h, w, k, mask_type",
    [
        (3, 9, 37, 5, 11, 3, "B"),  # output channels past one 32-wide strip, odd input channels
        (2, 17, 70, 4, 3, 7, "B"),  # three strips, the last a 6-channel tail; kernel wider than the image
        (5, 1, 33, 6, 6, 5, "A"),  # single input channel: a tile's rows are taps
        (1, 33, 1, 7, 2, 1, "B"),  # 1x1 kernel, one output channel (a whole zero-padded strip)
        (1, 40, 100, 16, 16, 3, "B"),  # one image large enough to share its strips among threads
    ],
)
def test_channel_tails_match_float64_reference(batch, cin, cout, h, w, k, mask_type):
    # Channel counts that leave partial register tiles and partial channel strips.
    x = torch.randn(batch, cin, h, w, requires_grad=True)
    weight = torch.randn(cout, cin, k, k, requires_grad=True)
    bias = torch.randn(cout, requires_grad=True)
    grad = torch.randn(batch, cout, h, w)
    out = masked_conv2d(x, weight, bias, mask_type)
    grads = torch.autograd.grad(out, (x, weight, bias), grad)
    expected, expected_grads = exact(x, weight, bias, mask_type, grad)
    assert_rel_close(out, expected, 1e-5)
    for got, want in zip(grads, expected_grads):
        assert_rel_close(got, want, 1e-5)


def test_bias_gradient_alone():
    # Only the bias needs a gradient: neither the input nor the weight gradient is computed.
    x = torch.randn(2, 3, 6, 7)
    weight = torch.randn(5, 3, 3, 3)
    bias = torch.zeros(5, requires_grad=True)
    grad = torch.randn(2, 5, 6, 7)
    masked_conv2d(x, weight, bias, "B").backward(grad)
    assert_rel_close(bias.grad, grad.double().sum(dim=(0, 2, 3)), 1e-6)


@pytest.mark.parametrize("shape, k", [((1, 1, 1, 1), 3), ((2, 2, 4, 5), 3), ((1, 2, 5, 3), 5), ((1, 1, 4, 5), 7)])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_gradcheck_float64(shape, k, mask_type):
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, shape[1], k, k, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: masked_conv2d(*t, mask_type=mask_type), (x, w, b))


@pytest.mark.parametrize("mask_type, k", [("A", 7), ("B", 3), ("A", 3), ("B", 5)])
def test_causality_by_gradients(mask_type, k):
    h, w = 5, 6
    x = torch.randn(2, 3, h, w, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 3, k, k, dtype=torch.float64)
    out = masked_conv2d(x, weight, None, mask_type)
    for p in range(h * w):
        i, j = divmod(p, w)
        (grad,) = torch.autograd.grad(out[:, :, i, j].sum(), x, retain_graph=True)
        dependence = grad.abs().sum(dim=(0, 1)).flatten()  # per input position, raster order
        first_forbidden = p if mask_type == "A" else p + 1
        assert torch.all(dependence[first_forbidden:] == 0), f"output {(i, j)} depends on a later input"
        # and it does depend on the kept taps inside the image
        kept = [(i + t // k - k // 2) * w + (j + t % k - k // 2) for t in range(k // 2 * k + k // 2 + (mask_type == "B"))
                if 0 <= i + t // k - k // 2 and 0 <= j + t % k - k // 2 < w]
        assert all(dependence[q] > 0 for q in kept)


def test_masked_weights_are_ignored_and_get_zero_gradient():
    x = torch.randn(2, 3, 5, 5)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    w2 = w.detach().clone()
    w2[:, :, 2, :] = 100.0  # the row below the centre is always masked
    w2[:, :, 1, 2] = 100.0
    torch.testing.assert_close(masked_conv2d(x, w2.requires_grad_(), None, "B"), masked_conv2d(x, w, None, "B"))
    masked_conv2d(x, w, None, "B").sum().backward()
    assert torch.all(w.grad[:, :, 2, :] == 0) and torch.all(w.grad[:, :, 1, 2] == 0)
    assert torch.all(w.grad[:, :, 1, 1] != 0)


def test_only_requested_gradients_and_any_layout():
    x = torch.randn(2, 4, 9, 8).to(memory_format=torch.channels_last)
    w = torch.randn(5, 4, 3, 3, requires_grad=True)
    out = masked_conv2d(x, w, None, "B")
    (gw,) = torch.autograd.grad(out.square().sum(), w)
    xd, wd = x.double(), w.detach().double().requires_grad_()
    (expected,) = torch.autograd.grad(reference.masked_conv2d(xd, wd, None, "B").square().sum(), wd)
    assert_rel_close(gw, expected, 1e-5)


def test_float64_and_no_input_change():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    before = (x.clone(), w.clone())
    out = masked_conv2d(x, w, None, "A")
    assert out.dtype == torch.float64
    assert torch.equal(x, before[0]) and torch.equal(w, before[1])
    assert_rel_close(out, reference.masked_conv2d(x, w, None, "A"), 1e-12)


def test_half_precision_uses_reference():
    x = torch.randn(1, 2, 5, 5).to(torch.bfloat16)
    w = torch.randn(3, 2, 3, 3).to(torch.bfloat16)
    torch.testing.assert_close(masked_conv2d(x, w, None, "B"), reference.masked_conv2d(x, w, None, "B"))


def test_module_is_a_conv2d_with_the_mask():
    m = MaskedConv2d(3, 6, 5, "A")
    x = torch.randn(2, 3, 7, 7)
    assert isinstance(m, nn.Conv2d) and m.padding == (2, 2)
    assert torch.equal(m(x), masked_conv2d(x, m.weight, m.bias, "A"))
    assert "mask_type='A'" in repr(m)
    dense = nn.Conv2d(3, 6, 5, padding=2)
    dense.load_state_dict(m.state_dict())  # a standard state dict
    assert MaskedConv2d(3, 6, 5, "B", bias=False).bias is None


def test_tracing_uses_the_reference_conv():
    m = MaskedConv2d(2, 3, 3, "B").eval()
    x = torch.randn(1, 2, 6, 6)
    traced = torch.jit.trace(m, x)
    assert "aten::_convolution" in str(traced.graph) or "aten::conv2d" in str(traced.graph)
    torch.testing.assert_close(traced(torch.randn(2, 2, 4, 5) * 0 + x[:, :, :4, :5]), m(x[:, :, :4, :5]).expand(2, -1, -1, -1))


@pytest.mark.parametrize(
    "x, w, b, mask_type, error, message",
    [
        (torch.randn(3, 8), torch.randn(1, 1, 3, 3), None, "A", ValueError, r"x must be 4-D"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 4, 4), None, "A", ValueError, "odd kernel size, got 4x4"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 5), None, "A", ValueError, "square kernel"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 4, 3, 3), None, "A", ValueError, "must have 2 input channels"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3), None, "A", ValueError, "4-D"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), None, "C", ValueError, "mask_type must be one of 'A', 'B', got 'C'"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3, dtype=torch.float64), None, "A", ValueError, "dtype and device"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), torch.randn(4), "B", ValueError, r"bias must have shape \(3,\)"),
        (torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), torch.randn(3).double(), "B", ValueError, "bias must have the dtype"),
        (torch.randn(0, 2, 5, 5), torch.randn(3, 2, 3, 3), None, "A", ValueError, "zero-size"),
        (torch.ones(1, 2, 5, 5, dtype=torch.int64), torch.ones(3, 2, 3, 3, dtype=torch.int64), None, "A", TypeError, "torch.int64"),
        (torch.randn(1, 2, 5, 5), "w", None, "A", TypeError, "weight must be a torch.Tensor"),
    ],
)
def test_bad_input(x, w, b, mask_type, error, message):
    with pytest.raises(error, match=message):
        masked_conv2d(x, w, b, mask_type)


@pytest.mark.parametrize("kernel_size, mask_type, message", [(4, "A", "odd"), (0, "B", "odd"), (3, "a", "mask_type")])
def test_module_bad_arguments(kernel_size, mask_type, message):
    with pytest.raises(ValueError, match=message):
        MaskedConv2d(2, 3, kernel_size, mask_type)


def test_extension_checks_shapes():
    from pyfast._ext import extension

    x, w, out = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3), torch.empty(1, 4, 5, 5)
    with pytest.raises(ValueError, match="out must have shape"):
        extension.masked_conv_forward(x, w, None, out, "A")
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        extension.masked_conv_forward(x, w, None, torch.empty(1, 3, 5, 5), "Z")


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cin, cout, k, mask_type, hw", [(1, 16, 7, "A", 12), (8, 8, 3, "B", 9), (64, 64, 3, "B", 28), (5, 3, 5, "A", 7)])
def test_cuda_matches_reference(dtype, cin, cout, k, mask_type, hw):
    x = torch.randn(3, cin, hw, hw + 1, dtype=dtype, device="cuda", requires_grad=True)
    w = torch.randn(cout, cin, k, k, dtype=dtype, device="cuda", requires_grad=True)
    b = torch.randn(cout, dtype=dtype, device="cuda", requires_grad=True)
    grad = torch.randn(3, cout, hw, hw + 1, dtype=dtype, device="cuda")
    out = masked_conv2d(x, w, b, mask_type)
    grads = torch.autograd.grad(out, (x, w, b), grad)
    expected, expected_grads = exact(x.cpu(), w.cpu(), b.cpu(), mask_type, grad.cpu())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert_rel_close(out, expected, tol)
    for got, want in zip(grads, expected_grads):
        assert_rel_close(got, want, tol)


@pytest.mark.cuda
def test_cuda_gradcheck():
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, device="cuda", requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, device="cuda", requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, device="cuda", requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: masked_conv2d(*t, mask_type="B"), (x, w, b))
