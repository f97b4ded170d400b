import numpy as np
import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from pyfast.explain.incremental import (
    IncrementalPlanError,
    incremental_cost,
    incremental_occlusion,
    plan_incremental,
)
from pyfast.explain.occlusion import occlusion
from pyfast.models.classifier import GlyphNet
from pyfast.models.resnet import BasicBlock, ResNet18
from pyfast.ops.occlusion import OcclusionGrid


def _randomise_batchnorm(model: nn.Module) -> nn.Module:
    """Non-trivial running statistics and affine parameters, so BatchNorm is not the identity."""
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=generator) * 0.1)
    return model.eval()


def glyph_shaped() -> nn.Module:
    torch.manual_seed(0)
    return _randomise_batchnorm(GlyphNet(num_classes=6, channels=(6, 8, 10, 12)))


class SmallResNet(nn.Module):
    """A ResNet in miniature: stem, a block without and one with a downsampling shortcut, head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 12, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def small_resnet() -> nn.Module:
    torch.manual_seed(1)
    return _randomise_batchnorm(SmallResNet())


def captum_map(model, x, target, window, stride, baseline, batch_size):
    wh, ww = (window, window) if isinstance(window, int) else window
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    attr = Occlusion(model).attribute(x, sliding_window_shapes=(x.shape[1], wh, ww), strides=(x.shape[1], sh, sw),
                                      baselines=baseline, target=target, perturbations_per_eval=batch_size)
    return attr[:, 0].numpy()


def assert_maps_equal(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "make, size, window, stride, batch_size",
    [
        (glyph_shaped, 32, 8, 4, 64),
        (glyph_shaped, 30, 7, 5, 13),  # windows cut off at the border, a stride that does not divide
        (glyph_shaped, 32, (9, 4), (4, 3), 32),
        (small_resnet, 32, 6, 4, 16),
        (small_resnet, 29, (5, 8), (3, 7), 20),
    ],
    ids=["glyph", "glyph-border", "glyph-rect", "resnet", "resnet-rect-odd"],
)
def test_equals_captum_and_torch_backend(make, size, window, stride, batch_size):
    model = make()
    x = torch.randn(2, 3, size, size)
    kwargs = {"target": [1, 3], "window": window, "stride": stride, "baseline": 0.25, "batch_size": batch_size,
              "progress": False}
    ours = occlusion(model, x, backend="incremental", **kwargs)
    assert_maps_equal(ours, occlusion(model, x, backend="torch", **kwargs))
    assert_maps_equal(ours, captum_map(model, x, [1, 3], window, stride, 0.25, batch_size))


def test_resnet18_equals_captum_with_tensor_baseline():
    model = ResNet18(num_classes=10).eval()
    x = torch.randn(1, 3, 40, 40)
    baseline = torch.randn(3, 40, 40)
    predicted = int(model(x).argmax())
    ours = occlusion(model, x, window=15, stride=8, baseline=baseline, batch_size=9, progress=False,
                     backend="incremental")
    assert_maps_equal(ours, captum_map(model, x, predicted, 15, 8, baseline.unsqueeze(0), 9))


@pytest.mark.parametrize("threshold", [1e-3, 0.3, 1.0])
def test_any_switch_point_gives_the_same_map(threshold):
    model = small_resnet()
    x = torch.randn(1, 3, 32, 32)
    grid = OcclusionGrid.create((32, 32), 5, 3)
    with torch.no_grad():
        ours = incremental_occlusion(model, x, 2, grid, [0.0], batch_size=50, progress=False, threshold=threshold)
    expected = occlusion(model, x, target=2, window=5, stride=3, batch_size=50, progress=False)
    assert_maps_equal(ours, expected)


def test_other_layer_options_equal_torch_backend():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, stride=2, padding=0, bias=True), nn.LeakyReLU(0.2),
        nn.Conv2d(6, 8, 3, padding=2, dilation=2, groups=2), nn.ReLU6(),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), nn.Dropout(0.5),
        nn.Conv2d(8, 8, (1, 3), stride=(1, 2), padding=(0, 1)), nn.Identity(),
        nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(32, 4),
    ).eval()
    x = torch.randn(1, 3, 27, 31)
    kwargs = {"target": 0, "window": (4, 6), "stride": (3, 5), "batch_size": 11, "progress": False}
    assert_maps_equal(occlusion(model, x, backend="incremental", **kwargs), occlusion(model, x, **kwargs))


def test_plans_and_costs():
    plan = plan_incremental(ResNet18())
    assert plan.stage_names[:5] == ["conv1", "bn1", "relu", "maxpool", "layer1.0"]
    assert [name for name, _ in plan.head] == ["avgpool", "fc"]
    model = GlyphNet()
    cost = incremental_cost(model, (64, 64), 8, 4)
    assert model.training and not model.features.conv1._forward_hooks
    assert 0 < cost["incremental"] < 0.5 * cost["full"]
    assert cost["incremental_stages"][0] == "features.conv1"
    whole = incremental_cost(GlyphNet(), (64, 64), 64, 1)  # the window is the image: nothing to save
    assert whole["incremental"] == whole["full"] and whole["incremental_stages"] == []


class CustomForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):  # not the sequence of its children
        return self.fc(self.conv(x).amax(dim=(2, 3)))


@pytest.mark.parametrize(
    "model, message",
    [
        (nn.Sequential(nn.Flatten(), nn.Linear(3 * 10 * 10, 3)), "first layer is '0' \\(Flatten\\)"),
        (CustomForward(), "forward computes something else"),
    ],
    ids=["unknown-first-layer", "custom-forward"],
)
def test_unsupported_model_warns_and_runs_torch(model, message):
    model.eval()
    x = torch.randn(1, 3, 10, 10)
    kwargs = {"target": 1, "window": 4, "stride": 2, "batch_size": 8, "progress": False}
    with pytest.warns(UserWarning, match=message):
        ours = occlusion(model, x, backend="incremental", **kwargs)
    assert_maps_equal(ours, occlusion(model, x, **kwargs))
    grid = OcclusionGrid.create((10, 10), 4, 2)
    with pytest.raises(IncrementalPlanError, match=message), torch.no_grad():
        incremental_occlusion(model, x, 1, grid, [0.0], batch_size=8, progress=False)


def test_bad_threshold():
    grid = OcclusionGrid.create((10, 10), 4, 2)
    with pytest.raises(ValueError, match="threshold must be in"):
        incremental_occlusion(glyph_shaped(), torch.randn(1, 3, 10, 10), 0, grid, [0.0], 8, False, threshold=0)


def test_model_and_input_unchanged():
    model = small_resnet().train()
    model.conv1.weight.requires_grad_(False)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 3, 24, 24)
    x0 = x.clone()
    occlusion(model, x, target=0, window=6, stride=4, batch_size=8, progress=False, backend="incremental")
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [False] + [True] * (len(list(model.parameters())) - 1)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert torch.equal(x, x0)
