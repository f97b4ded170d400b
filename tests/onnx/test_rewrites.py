import onnx
import pytest
import torch

from pyfast.models import TransformerNet
from pyfast.models.transformer import ConvLayer
from pyfast.onnx import export_style
from pyfast.onnx.rewrites import PhaseConvLayer, optimize_for_export


def _random_layer(c_in: int, c_out: int, kernel: int, seed: int) -> ConvLayer:
    torch.manual_seed(seed)
    layer = ConvLayer(c_in, c_out, kernel_size=kernel, stride=1).double()
    torch.nn.init.normal_(layer.conv2d.bias)
    return layer


@pytest.mark.parametrize("seed", range(6))
def test_phase_conv_equals_the_layer_at_random_shapes(seed):
    g = torch.Generator().manual_seed(seed)
    kernel = (3, 5, 9)[seed % 3]
    stride = 2 + seed % 3
    c_in, c_out = (int(v) for v in torch.randint(1, 9, (2,), generator=g))
    layer = _random_layer(c_in, c_out, kernel, seed)
    low = kernel // 2 + stride  # the smallest size the far-side reflection allows
    h, w = (int(v) for v in torch.randint(low, 40, (2,), generator=g))
    x = torch.randn(2, c_in, h, w, dtype=torch.float64, generator=g)
    phased = PhaseConvLayer(layer, stride=stride)
    with torch.no_grad():
        expected, got = layer(x), phased(x)
    assert got.shape == expected.shape == (2, c_out, h, w)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    assert phased.weight.shape == (c_out * stride**2, c_in, kernel + stride - 1, kernel + stride - 1)


@pytest.mark.parametrize("size", [(6, 6), (6, 7), (7, 6), (7, 9), (8, 8), (33, 47), (64, 81)])
def test_phase_conv_equals_transformer_nets_output_layer_at_small_and_odd_sizes(size):
    layer = _random_layer(16, 3, 9, seed=7)
    x = torch.randn(1, 16, *size, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(PhaseConvLayer(layer, stride=2)(x), layer(x), rtol=0, atol=1e-12)


def test_phase_conv_names_its_minimum_size():
    with pytest.raises(ValueError, match="at least 6x6, got 5x9"):
        PhaseConvLayer(_random_layer(16, 3, 9, seed=0), stride=2)(torch.randn(1, 16, 5, 9, dtype=torch.float64))


@pytest.mark.parametrize("conv", [dict(kernel_size=3, stride=2), dict(kernel_size=4, stride=1)])
def test_phase_conv_refuses_layers_it_cannot_reproduce(conv):
    assert not PhaseConvLayer.supports(ConvLayer(4, 3, **conv))
    with pytest.raises(ValueError, match="stride-1, odd square"):
        PhaseConvLayer(ConvLayer(4, 3, **conv))


def test_phase_conv_refuses_a_bad_stride():
    with pytest.raises(ValueError, match="stride must be >= 1"):
        PhaseConvLayer(ConvLayer(4, 3, kernel_size=3, stride=1), stride=0)


@pytest.mark.parametrize("size", [(5, 5), (37, 22), (64, 81)])
def test_optimized_copy_computes_the_same_function_and_leaves_the_model_alone(size):
    torch.manual_seed(1)
    model = TransformerNet(width=0.25).double().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimized, applied = optimize_for_export(model)
    assert applied == ["output convolution as stride-2 convolution + depth-to-space"]
    assert isinstance(optimized.deconv3, PhaseConvLayer) and isinstance(model.deconv3, ConvLayer)
    x = torch.rand(2, 3, *size, dtype=torch.float64) * 255
    with torch.no_grad():
        torch.testing.assert_close(optimized(x), model(x), rtol=0, atol=1e-9)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("layer", [ConvLayer(8, 3, kernel_size=9, stride=2), ConvLayer(8, 3, kernel_size=8, stride=1),
                                   ConvLayer(8, 16, kernel_size=9, stride=1), torch.nn.Conv2d(8, 3, 9)])
def test_a_model_without_a_rewritable_output_layer_is_copied_unchanged(layer):
    model = TransformerNet(width=0.25)
    model.deconv3 = layer
    optimized, applied = optimize_for_export(model)
    assert applied == [] and optimized is not model and type(optimized.deconv3) is type(layer)


def _ops(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.mark.parametrize("rewrite", [True, False])
def test_export_with_and_without_the_rewrite_is_verified(tmp_path, rewrite):
    torch.manual_seed(2)
    report = export_style(TransformerNet(width=0.25).eval(), tmp_path / "m.onnx", rewrite=rewrite)
    assert max(report.max_abs_error.values()) <= 0.05  # against the original model, odd sizes included
    assert ("DepthToSpace" in _ops(report.path)) == rewrite
    assert report.metadata["pyfast.graph"] == ("output convolution as stride-2 convolution + depth-to-space" if rewrite else "as written")
