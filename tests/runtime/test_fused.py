"""pyfast.runtime.fused: the blocked-layout kernels against numpy, the fused network against
ONNX Runtime's plain graph, and the Engine's choice between them."""

import threading

import numpy as np
import onnxruntime as ort
import pytest
import torch

from pyfast._ext import extension as C
from pyfast.models import TransformerNet
from pyfast.onnx import export_style
from pyfast.runtime import Engine
from pyfast.runtime.fused import PLANS_KEPT, FusedStyleNetwork, Unsupported

pytestmark = pytest.mark.skipif(C is None, reason="pyfast's extension is not built")


def blocked(x: np.ndarray, b: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C/b, H, W, b)."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(n, c // b, b, h, w).transpose(0, 1, 3, 4, 2))


def unblocked(x: np.ndarray) -> np.ndarray:
    n, cb, h, w, b = x.shape
    return x.transpose(0, 1, 4, 2, 3).reshape(n, cb * b, h, w)


def reference_norm_pad(y, gamma, beta, residual, relu, eps, upsample, pads):
    v = y.astype(np.float64)
    if gamma is not None:
        mean, var = v.mean((2, 3), keepdims=True), v.var((2, 3), keepdims=True)
        v = (v - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]
        if relu:
            v = np.maximum(v, 0)
        if residual is not None:
            r = (residual.shape[2] - y.shape[2]) // 2
            v = v + residual[:, :, r : r + y.shape[2], r : r + y.shape[3]]
    v = v.repeat(upsample, axis=2).repeat(upsample, axis=3)
    top, bottom, left, right = pads
    return np.pad(v, ((0, 0), (0, 0), (top, bottom), (left, right)), mode="reflect")


@pytest.mark.parametrize("case", range(40))
def test_norm_pad_matches_numpy_on_random_shapes(case):
    rng = np.random.default_rng(case)
    b = [1, 3, 8, 16][case % 4]  # 3: the kernel's generic block width
    n, cb, h, w = rng.integers(1, 3), rng.integers(1, 4), rng.integers(2, 19), rng.integers(2, 19)
    up = int(rng.integers(1, 3))
    pads = tuple(int(rng.integers(0, min(up * h, up * w, 6))) for _ in range(4))
    normalize = case % 5 != 0
    relu, with_residual = bool(rng.integers(2)), normalize and bool(rng.integers(2))
    y = (rng.standard_normal((n, cb * b, h, w)) * 40 + 7).astype(np.float32)
    gamma = rng.uniform(0.5, 2, cb * b).astype(np.float32) if normalize else None
    beta = rng.uniform(-1, 1, cb * b).astype(np.float32) if normalize else None
    r = int(rng.integers(0, 3))
    residual = rng.standard_normal((n, cb * b, h + 2 * r, w + 2 * r)).astype(np.float32) if with_residual else None
    out = np.full((n, cb, up * h + pads[0] + pads[1], up * w + pads[2] + pads[3], b), np.nan, np.float32)
    C.norm_pad(blocked(y, b), out, gamma=gamma, beta=beta, residual=None if residual is None else blocked(residual, b),
               relu=relu and normalize, eps=1e-5, upsample=up, pads=pads)
    expected = reference_norm_pad(y, gamma, beta, residual, relu and normalize, 1e-5, up, pads)
    np.testing.assert_allclose(unblocked(out), expected, rtol=1e-5, atol=1e-4)


def test_norm_pad_statistics_hold_for_large_offsets():
    """float64 sums: a plane of values near 1e4 with unit spread normalises to unit spread."""
    rng = np.random.default_rng(0)
    y = (1e4 + rng.standard_normal((1, 16, 300, 200))).astype(np.float32)
    out = np.empty((1, 1, 300, 200, 16), np.float32)
    C.norm_pad(blocked(y, 16), out, gamma=np.ones(16, np.float32), beta=np.zeros(16, np.float32))
    v = unblocked(out)
    assert np.abs(v.mean((2, 3))).max() < 1e-3 and np.abs(v.std((2, 3)) - 1).max() < 1e-3


@pytest.mark.parametrize("shape,crop", [((1, 1, 3, 4, 16), (5, 7)), ((2, 2, 5, 3, 8), (10, 6)), ((1, 4, 2, 2, 4), (3, 4))])
def test_depth_to_space_crop_matches_numpy(shape, crop):
    rng = np.random.default_rng(1)
    y = rng.standard_normal(shape).astype(np.float32)
    n, cb, h, w, b = shape
    out = np.empty((n, 3, *crop, 1), np.float32)
    C.depth_to_space_crop(y, out, 2)
    plain = unblocked(y)[:, :12].reshape(n, 3, 2, 2, h, w)  # CRD: channel = c * 4 + p * 2 + q
    expected = plain.transpose(0, 1, 4, 2, 5, 3).reshape(n, 3, 2 * h, 2 * w)[:, :, : crop[0], : crop[1]]
    np.testing.assert_array_equal(out[..., 0], expected)


@pytest.mark.parametrize("call,message", [
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 5, 6, 8), np.float32)), "out"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 12, 4, 8), np.float32),
                        pads=(4, 4, 0, 0)), "smaller than the (upsampled) input"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8)), np.zeros((1, 1, 4, 4, 8))), "float32"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 4, 4, 8), np.float32), relu=True),
     "need normalize"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 4, 4, 8), np.float32),
                        gamma=np.ones(8, np.float32), beta=np.ones(8, np.float32),
                        residual=np.zeros((1, 1, 5, 4, 8), np.float32)), "residual"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 4, 4, 8), np.float32),
                        gamma=np.ones(16, np.float32), beta=np.ones(8, np.float32)), "gamma"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 4, 4, 8), np.float32), pads=(1, 2)),
     "pads must be"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 4, 4, 8), np.float32),
                        pads=(1.5, 0, 0, 0)), "pads must be four integers"),
    (lambda: C.norm_pad(np.zeros((1, 1, 4, 4, 8), np.float32), np.zeros((1, 1, 4, 4, 8), np.float32),
                        pads=(2**63, 0, 0, 0)), "pads must be four integers"),
    (lambda: C.norm_pad(np.zeros((1, 1, 5, 5, 1), np.float32), np.zeros((1, 1, 5, 5, 1), np.float32),
                        upsample=(2**64 + 4) // 5), "upsample must be in 1..64"),
    (lambda: C.depth_to_space_crop(np.zeros((1, 1, 2, 2, 1), np.float32), np.zeros((1, 1, 2, 2, 1), np.float32), 2**32),
     "s must be in 1..64"),
    (lambda: C.depth_to_space_crop(np.zeros((1, 1, 2, 2, 8), np.float32), np.zeros((1, 3, 4, 4, 1), np.float32), 2),
     "C*s*s <= Cb*B"),
])
def test_kernel_arguments_are_checked(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        call()


def _style_model(width: float, seed: int = 0) -> TransformerNet:
    """Random weights with instance norms away from the identity, so that every scale and shift counts."""
    torch.manual_seed(seed)
    model = TransformerNet(width=width).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-1, 1)
    return model


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fused")
    paths = {width: export_style(_style_model(width), folder / f"{width}.onnx", verify=False).path for width in (0.5, 1.0)}
    paths["plain-output"] = export_style(_style_model(0.5), folder / "plain.onnx", verify=False, rewrite=False).path
    paths[0.25] = export_style(_style_model(0.25), folder / "quarter.onnx", verify=False).path
    try:
        FusedStyleNetwork(paths[0.5], self_check=False)
    except Unsupported as exc:  # a CPU without AVX2: ONNX Runtime keeps its convolutions in NCHW
        pytest.skip(str(exc))
    return paths


def _plain(path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]


@pytest.mark.parametrize("width", [0.5, 1.0])
@pytest.mark.parametrize("shape", [(1, 3, 5, 5), (1, 3, 17, 23), (2, 3, 32, 48), (1, 3, 61, 40)])
def test_fused_network_matches_onnx_runtime(exports, width, shape):
    net = FusedStyleNetwork(exports[width], threads=2)
    x = np.random.default_rng(2).uniform(0, 255, shape).astype(np.float32)
    expected = _plain(exports[width])(x)
    got = net.run(x)
    assert got.shape == shape and np.abs(got - expected).max() < 0.01 * max(1.0, np.abs(expected).max() / 255)
    np.testing.assert_array_equal(net.run(x), got)  # buffers reused: same answer


def test_each_thread_keeps_plans_for_its_last_shapes_over_shared_buffers(exports):
    net = FusedStyleNetwork(exports[0.5], self_check=False)
    plain = _plain(exports[0.5])
    shapes = [(1, 3, 40, 40)] + [(1, 3, 20 + i, 16) for i in range(PLANS_KEPT + 1)]  # the first is the largest
    for shape in shapes:
        x = np.random.default_rng(3).uniform(0, 255, shape).astype(np.float32)
        assert np.abs(net.run(x) - plain(x)).max() < 0.01
    assert list(net._state.plans) == shapes[-PLANS_KEPT:]
    arenas = [a.ctypes.data for a in net._state.arenas]
    net.run(np.zeros((1, 3, 24, 16), np.float32))
    assert [a.ctypes.data for a in net._state.arenas] == arenas  # smaller shapes reuse the buffers
    x = np.random.default_rng(4).uniform(0, 255, (2, 3, 48, 40)).astype(np.float32)
    assert np.abs(net.run(x) - plain(x)).max() < 0.01  # a larger one grows them, and drops the old plans
    assert list(net._state.plans) == [(2, 3, 48, 40)]


def test_read_only_and_empty_inputs(exports):
    net = FusedStyleNetwork(exports[0.5], self_check=False)
    x = np.random.default_rng(6).uniform(0, 255, (1, 3, 20, 24)).astype(np.float32)
    frozen = x.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(net.run(frozen), net.run(x))
    assert net.run(np.zeros((0, 3, 20, 24), np.float32)).shape == (0, 3, 20, 24)


def test_fused_network_is_safe_across_threads(exports):
    net = FusedStyleNetwork(exports[0.5], self_check=False)
    plain = _plain(exports[0.5])
    inputs = [np.random.default_rng(i).uniform(0, 255, (1, 3, 16 + 4 * (i % 2), 24)).astype(np.float32) for i in range(6)]
    results = [None] * len(inputs)

    def work(i):
        results[i] = net.run(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, got in zip(inputs, results):
        assert np.abs(got - plain(x)).max() < 0.01


@pytest.mark.parametrize("key,reason", [
    ("plain-output", "phase form"),
    (0.25, "do not fill ONNX Runtime's blocks"),
])
def test_models_it_cannot_run_say_why(exports, key, reason):
    if key == 0.25:
        net = FusedStyleNetwork(exports[0.5], self_check=False)
        if net.block == 8:  # AVX2: 8 channels fill a block, and the quarter-width model runs
            pytest.skip("8-channel blocks")
    with pytest.raises(Unsupported, match=reason):
        FusedStyleNetwork(exports[key])


def test_a_model_that_is_not_a_transformer_net_is_unsupported(tmp_path):
    from pyfast.explain.occlusion import export_classifier
    from pyfast.models.classifier import GlyphNet

    path = export_classifier(GlyphNet(), (3, 32, 32), tmp_path / "c.onnx")
    with pytest.raises(Unsupported, match="not a TransformerNet graph"):
        FusedStyleNetwork(path)


def test_run_checks_its_input(exports):
    net = FusedStyleNetwork(exports[0.5], self_check=False)
    with pytest.raises(ValueError, match="float32"):
        net.run(np.zeros((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="at least 5x5"):
        net.run(np.zeros((1, 3, 4, 8), np.float32))
    frozen = np.zeros((1, 1, 4, 4, 8), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="y cannot be passed: BufferError"):  # the kernels name the argument
        C.norm_pad(frozen, np.zeros((1, 1, 4, 4, 8), np.float32))


def test_verify_rejects_a_network_that_differs(exports):
    net = FusedStyleNetwork(exports[0.5], self_check=False)
    with pytest.raises(Unsupported, match="differs from ONNX Runtime's graph"):
        net.verify(lambda x: _plain(exports[0.5])(x) + 1.0)


def test_engine_uses_the_fused_path_for_style_models_on_the_cpu(exports):
    x = np.random.default_rng(4).uniform(0, 255, (2, 3, 30, 22)).astype(np.float32)
    fused = Engine(exports[0.5], providers="cpu")
    plain = Engine(exports[0.5], providers="cpu", fused=False)
    assert fused.backend == "CPUExecutionProvider + pyfast fused kernels" and fused.fused_unavailable is None
    assert plain.backend == "CPUExecutionProvider" and "fused=False" in repr(plain)
    assert np.abs(fused.run(x) - plain.run(x)).max() < 0.01
    with pytest.raises(ValueError, match="must be 3-D|must be 4-D"):
        fused.run(x[0])  # the Engine's own input check still applies


def test_engine_falls_back_or_fails_as_asked(exports):
    engine = Engine(exports["plain-output"], providers="cpu")
    assert engine.backend == "CPUExecutionProvider" and "phase form" in engine.fused_unavailable
    with pytest.raises(ValueError, match="the fused CPU path cannot run this model: .*phase form"):
        Engine(exports["plain-output"], providers="cpu", fused=True)
    with pytest.raises(TypeError, match="fused must be"):
        Engine(exports[0.5], providers="cpu", fused="yes")


def test_engine_keeps_float16_exports_on_their_graph(exports, tmp_path):
    path = export_style(_style_model(0.5), tmp_path / "half16.onnx", verify=False, fp16=True).path
    engine = Engine(path, providers="cpu")
    assert engine.backend == "CPUExecutionProvider" and "float32" in engine.fused_unavailable


def test_thread_count_does_not_change_the_result(exports):
    """The kernels sum fixed chunks in a fixed order, whatever the number of threads."""
    x = np.random.default_rng(5).uniform(0, 255, (1, 3, 40, 52)).astype(np.float32)
    one, two = (FusedStyleNetwork(exports[0.5], threads=t, self_check=False).run(x) for t in (1, 2))
    np.testing.assert_array_equal(one, two)


def test_engine_leaves_any_build_failure_to_the_plain_graph(exports, monkeypatch, tmp_path):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))  # the one-node models cannot be written
    engine = Engine(exports[0.5], providers="cpu")
    assert engine.backend == "CPUExecutionProvider" and engine.fused_unavailable.startswith("FileNotFoundError")
    with pytest.raises(ValueError, match="the fused CPU path cannot run this model: FileNotFoundError"):
        Engine(exports[0.5], providers="cpu", fused=True)


def test_engine_keeps_many_threads_on_the_plain_graph(exports):
    from pyfast.runtime.fused import MAX_AUTO_THREADS

    engine = Engine(exports[0.5], providers="cpu", threads=MAX_AUTO_THREADS + 1)
    assert engine.backend == "CPUExecutionProvider" and f"{MAX_AUTO_THREADS + 1} threads" in engine.fused_unavailable


def test_engine_reports_fused_failures_as_runtime_errors_and_small_inputs_as_before(exports, monkeypatch):
    engine = Engine(exports[0.5], providers="cpu")
    plain = Engine(exports[0.5], providers="cpu", fused=False)
    for shape in ((1, 3, 4, 9), (0, 3, 16, 16)):  # what the graph does with them, the Engine still does
        x = np.zeros(shape, np.float32)
        try:
            expected = plain.run(x)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                engine.run(x)
        else:
            assert engine.run(x).shape == expected.shape

    def out_of_memory(x):
        raise MemoryError()

    monkeypatch.setattr(engine._fused, "run", out_of_memory)
    with pytest.raises(RuntimeError, match="the fused CPU path failed on input shape .*MemoryError"):
        engine.run(np.zeros((1, 3, 16, 16), np.float32))
