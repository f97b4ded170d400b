import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from pyfast.explain.occlusion import export_classifier, occlusion
from pyfast.runtime import Engine


def small_cnn(classes: int = 5) -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, classes),
    )


def captum_map(model, x, target, window, stride, baseline, batch_size):
    wh, ww = (window, window) if isinstance(window, int) else window
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    attr = Occlusion(model).attribute(x, sliding_window_shapes=(x.shape[1], wh, ww), strides=(x.shape[1], sh, sw),
                                      baselines=baseline, target=target, perturbations_per_eval=batch_size)
    assert torch.equal(attr[:, :1].expand_as(attr), attr)  # the same on every channel
    return attr[:, 0].numpy()


@pytest.mark.parametrize(
    "window, stride, batch_size",
    [(3, 1, 64), (4, 3, 7), ((5, 3), (2, 3), 12), (6, 4, 100), ((13, 17), 1, 1)],
    ids=["3-1", "4-3-nondivisible", "rect", "6-4", "whole-image"],
)
def test_equals_captum(window, stride, batch_size):
    model = small_cnn().eval()
    x = torch.randn(2, 3, 13, 17)
    ours = occlusion(model, x, target=[1, 4], window=window, stride=stride, baseline=0.3, batch_size=batch_size,
                     progress=False)
    assert ours.shape == (2, 13, 17) and ours.dtype == np.float32
    expected = captum_map(model, x, [1, 4], window, stride, 0.3, batch_size)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_tensor_baseline_and_default_target_equal_captum():
    model = small_cnn().eval()
    x = torch.randn(1, 3, 12, 12)
    baseline = torch.randn(3, 12, 12)
    predicted = int(model(x).argmax())
    ours = occlusion(model, x, window=5, stride=3, baseline=baseline, batch_size=8, progress=False)
    expected = captum_map(model, x, predicted, 5, 3, baseline.unsqueeze(0), 8)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_onnx_file_engine_and_onnxruntime_backend_equal_torch(tmp_path):
    model = small_cnn().eval()
    x = torch.randn(2, 3, 12, 14)
    kwargs = {"target": 2, "window": 4, "stride": 3, "baseline": -0.5, "batch_size": 9, "progress": False}
    expected = occlusion(model, x, **kwargs)
    path = export_classifier(model, (3, 12, 14), tmp_path / "cnn.onnx")
    for source in (path, str(path), Engine(path, providers="cpu")):
        np.testing.assert_allclose(occlusion(source, x.numpy(), **kwargs), expected, rtol=0, atol=1e-4)
    np.testing.assert_allclose(occlusion(model, x, backend="onnxruntime", **kwargs), expected, rtol=0, atol=1e-4)


def test_model_and_input_unchanged():
    model = small_cnn().train()
    model[0].weight.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 3, 10, 10)
    x0 = x.clone()
    for backend in ("torch", "onnxruntime"):
        occlusion(model, x, target=0, window=4, stride=2, batch_size=4, progress=False, backend=backend)
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [False] + [True] * (len(list(model.parameters())) - 1)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())  # BatchNorm statistics too
    assert torch.equal(x, x0)


def test_onnxruntime_backend_follows_weight_changes():
    model = small_cnn().eval()
    x = torch.randn(1, 3, 10, 10)
    kwargs = {"target": 1, "window": 4, "stride": 2, "progress": False}
    occlusion(model, x, backend="onnxruntime", **kwargs)
    with torch.no_grad():
        model[0].weight.mul_(2)
    np.testing.assert_allclose(occlusion(model, x, backend="onnxruntime", **kwargs), occlusion(model, x, **kwargs),
                               rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"x": torch.randn(3, 10, 10)}, r"\(N, C, H, W\)"),
        ({"target": 5}, "out of range"),
        ({"target": -1}, "out of range"),
        ({"window": 11}, "larger than the image"),
        ({"stride": 0}, "stride must be >= 1"),
        ({"stride": -1}, "stride must be >= 1"),
        ({"stride": 5}, "larger than window"),
        ({"batch_size": 0}, "batch_size must be an int >= 1"),
        ({"backend": "tensorflow"}, "backend must be one of"),
        ({"baseline": torch.zeros(2, 10, 10)}, "does not broadcast"),
    ],
)
def test_bad_input_raises(kwargs, message):
    args = {"x": torch.randn(1, 3, 10, 10), "target": 0, "window": 4, "stride": 2} | kwargs
    with pytest.raises(ValueError, match=message):
        occlusion(small_cnn().eval(), progress=False, **args)


def test_missing_onnx_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        occlusion(tmp_path / "missing.onnx", torch.randn(1, 3, 8, 8), target=0, window=4, stride=2, progress=False)
