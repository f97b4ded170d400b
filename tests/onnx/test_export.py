import re

import numpy as np
import onnx
import pytest
import torch

from pyfast.models import TransformerNet
from pyfast.onnx import convert_to_float16, export_style
from pyfast.onnx.export import MAX_OPSET
from pyfast.runtime import Engine


@pytest.fixture(scope="module")
def trained_like():
    """A TransformerNet with non-trivial weights (random, scaled so outputs vary)."""
    torch.manual_seed(0)
    model = TransformerNet(width=0.25)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
        model.deconv3.conv2d.bias.add_(120)
    return model.eval()


def test_export_is_dynamic_checked_and_has_metadata(tmp_path, trained_like):
    report = export_style(trained_like, tmp_path / "m.onnx", style="stripes", opset=17)
    proto = onnx.load(str(report.path))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["pyfast.style"] == "stripes" and meta["pyfast.input_range"] == "0-255"
    assert meta["pyfast.layout"] == "NCHW" and proto.producer_name == "pyfast"
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "", "height", "width"]
    # verified at sizes other than the 256x256 export size, odd ones included
    assert "97x131" in report.max_abs_error and "256x256" not in report.max_abs_error
    assert max(report.max_abs_error.values()) <= 0.05
    assert "max abs error" in report.summary()


@pytest.mark.parametrize("size", [(5, 5), (33, 47), (128, 96), (250, 3 * 67)])
def test_onnx_runtime_matches_pytorch_at_any_size(tmp_path, trained_like, size):
    path = export_style(trained_like, tmp_path / "m.onnx", verify=False).path
    x = torch.rand(3, 3, *size) * 255
    with torch.no_grad():
        expected = trained_like(x).numpy()
    got = Engine(path, providers="cpu", fused=False).run(x.numpy())  # the ONNX graph itself
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 0.05


def test_fp16_export_keeps_float32_io_and_stays_close(tmp_path, trained_like):
    report = export_style(trained_like, tmp_path / "m16.onnx", fp16=True)
    proto = onnx.load(str(report.path))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    if report.max_abs_error:  # onnxruntime builds without float16 CPU kernels skip the check
        assert max(report.max_abs_error.values()) <= 4.0


def test_convert_to_float16_keeps_resize_scales_float32(tmp_path, trained_like):
    path = export_style(trained_like, tmp_path / "m.onnx", verify=False).path
    half = convert_to_float16(onnx.load(str(path)))
    scales = {n.input[2] for n in half.graph.node if n.op_type == "Resize" and len(n.input) > 2}
    for init in half.graph.initializer:
        if init.name in scales:
            assert init.data_type == onnx.TensorProto.FLOAT


def test_convert_to_float16_refuses_a_float16_model(tmp_path, trained_like):
    path = export_style(trained_like, tmp_path / "m16.onnx", fp16=True, verify=False).path
    with pytest.raises(ValueError, match="already computes in float16"):
        convert_to_float16(onnx.load(str(path)))


def test_export_leaves_the_callers_model_as_it_was(tmp_path):
    model = TransformerNet(width=0.25).double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_style(model, tmp_path / "m.onnx", verify=False)
    assert model.training and next(model.parameters()).dtype == torch.float64
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("size", [(4, 256), (256, 2.5), (True, 256), (256,), 256])
def test_bad_export_size(tmp_path, trained_like, size):
    with pytest.raises(ValueError, match=r"export_size must be \(height, width\) integers >= 5"):
        export_style(trained_like, tmp_path / "m.onnx", export_size=size)


@pytest.mark.parametrize("opset", [11, MAX_OPSET + 1, 13.5, "17", True])
def test_bad_opset(tmp_path, trained_like, opset):
    with pytest.raises(ValueError, match=rf"opset must be an integer in 13\.\.{MAX_OPSET} .*got {re.escape(repr(opset))}"):
        export_style(trained_like, tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_a_model_with_nan_weights_fails_verification(tmp_path):
    model = TransformerNet(width=0.25).eval()
    with torch.no_grad():
        model.deconv3.conv2d.bias.fill_(float("nan"))
    earlier = export_style(TransformerNet(width=0.25).eval(), tmp_path / "nan.onnx", verify=False).path.read_bytes()
    with pytest.raises(ValueError, match="disagrees with PyTorch"):
        export_style(model, tmp_path / "nan.onnx")
    assert (tmp_path / "nan.onnx").read_bytes() == earlier  # the unverified export did not replace it
    assert [p.name for p in tmp_path.iterdir()] == ["nan.onnx"]
