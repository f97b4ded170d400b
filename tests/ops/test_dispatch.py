"""When the ops run the compiled kernels, and how they fall back."""

import io
import warnings

import pytest
import torch

import pyfast
from pyfast.ops import GramMatrix, TotalVariation, _dispatch, gram_matrix, total_variation


class StyleStats(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gram = GramMatrix()
        self.tv = TotalVariation(beta=1.5)

    def forward(self, x):
        return self.gram(x), self.tv(x)


@pytest.fixture
def count_kernel_calls(monkeypatch):
    """Counts calls into the extension's Gram/TV entry points."""
    calls = []
    real = pyfast._ext.extension

    class Spy:
        def __getattr__(self, name):
            fn = getattr(real, name)

            def wrapper(*args, **kwargs):
                calls.append(name)
                return fn(*args, **kwargs)

            return wrapper

    monkeypatch.setattr(_dispatch, "extension", Spy())
    return calls


def test_eager_calls_the_kernels(count_kernel_calls):
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    g, t = StyleStats()(x)
    (g.sum() + t).backward()
    assert sorted(count_kernel_calls) == ["gram_backward", "gram_forward", "tv_backward", "tv_forward"]


def test_tracing_uses_the_reference(count_kernel_calls):
    x = torch.randn(1, 3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(StyleStats(), x, check_trace=False)
    assert count_kernel_calls == []
    graph = str(traced.inlined_graph)
    assert "aten::bmm" in graph and "PythonOp" not in graph
    y = torch.randn(2, 3, 12, 10)
    for a, b in zip(traced(y), StyleStats()(y)):
        torch.testing.assert_close(a, b)


def test_onnx_export_uses_standard_operators(count_kernel_calls):
    onnx = pytest.importorskip("onnx")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(StyleStats(), (torch.randn(1, 3, 8, 8),), buf, dynamo=False)
    assert count_kernel_calls == []
    model = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(model)
    ops = {node.op_type for node in model.graph.node}
    assert "MatMul" in ops and "Pow" in ops
    assert all(node.domain in ("", "ai.onnx") for node in model.graph.node)


def test_torch_compile_uses_the_reference(count_kernel_calls):
    torch._dynamo.reset()
    compiled = torch.compile(StyleStats(), backend="eager", fullgraph=True)
    x = torch.randn(1, 3, 8, 8)
    g, t = compiled(x)
    assert count_kernel_calls == []
    torch.testing.assert_close(g, gram_matrix(x))
    torch.testing.assert_close(t, total_variation(x, beta=1.5))


def test_device_without_kernels_falls_back_with_one_warning(monkeypatch):
    monkeypatch.setattr(_dispatch, "_warned", set())
    x = torch.randn(2, 3, 4, 5, device="meta")
    with pytest.warns(RuntimeWarning, match="gram_matrix: pyfast._C was built without META kernels") as record:
        out = gram_matrix(x)
        gram_matrix(x)
    assert out.shape == (2, 3, 3) and out.device.type == "meta"
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1


def test_missing_extension_falls_back_to_reference(monkeypatch):
    monkeypatch.setattr(_dispatch, "extension", None)
    monkeypatch.setattr(_dispatch, "_warned", set())
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    with pytest.warns(RuntimeWarning, match="could not be imported"):
        out = total_variation(x)
    out.backward()
    assert x.grad is not None


def test_cpu_only_build_with_cuda_tensor_falls_back(monkeypatch):
    """Simulates a CPU-only extension facing a CUDA tensor (a GPU is needed for the tensor)."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    monkeypatch.setattr(_dispatch, "_cuda_compiled", lambda: False)
    monkeypatch.setattr(_dispatch, "_warned", set())
    x = torch.randn(1, 2, 5, 5, device="cuda")
    with pytest.warns(RuntimeWarning, match="without CUDA kernels"):
        out = gram_matrix(x)
    assert out.device.type == "cuda"
