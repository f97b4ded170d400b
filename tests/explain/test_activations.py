"""pyfast.explain.activations: activation maps, receptive fields, top patches, neighbours, embeddings."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pyfast.data.images import write_image
from pyfast.explain import ModelSpec, Preprocessing
from pyfast.explain import activations as act


def small_net() -> nn.Sequential:
    """conv3 p1 - ReLU - conv3 p1 - ReLU - maxpool2 - conv3 (no pad): fields 3, 5, 6, 10."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(5, 6, 3))


class Branchy(nn.Module):
    """Functional ReLUs, a residual branch and a strided, dilated path."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 5, stride=2)
        self.conv = nn.Conv2d(4, 4, 3, dilation=2, padding=2)
        self.skip = nn.Conv2d(4, 4, 1)
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.head = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(self.conv(x)) + self.skip(x)
        x = self.head(self.pool(x))
        return self.fc(x.mean((2, 3)))


def _field_analytic(layers):
    """(size, stride, start of unit 0) of a chain of (kernel, stride, padding, dilation)."""
    size, jump, start = 1, 1, 0
    for k, s, p, d in layers:
        size += (k - 1) * d * jump
        start -= p * jump
        jump *= s
    return size, jump, start


# ----------------------------------------------------------------------------- receptive fields

@pytest.mark.parametrize("layer, chain", [
    ("0", [(3, 1, 1, 1)]),
    ("2", [(3, 1, 1, 1), (3, 1, 1, 1)]),
    ("4", [(3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 0, 1)]),
    ("5", [(3, 1, 1, 1), (3, 1, 1, 1), (2, 2, 0, 1), (3, 1, 0, 1)]),
])
def test_receptive_field_of_a_conv_stack_matches_the_analytic_value(layer, chain):
    size, stride, start = _field_analytic(chain)
    field = act.receptive_field(small_net(), layer, 32)
    assert field == ((size, size), (stride, stride), (start, start))
    assert act.receptive_field(small_net(), "4", 32) == ((6, 6), (2, 2), (-2, -2))  # the brief's two convs + pool


def test_receptive_field_follows_functional_relu_branches_dilation_and_stride():
    chain = [(5, 2, 0, 1), (3, 1, 2, 2), (3, 2, 1, 1), (3, 2, 1, 1)]  # the dilated path is the widest branch
    size, stride, start = _field_analytic(chain)
    field = act.receptive_field(Branchy(), "head", (24, 20))  # grows the probe input as needed
    assert field == ((size, size), (stride, stride), (start, start)) == ((25, 25), (8, 8), (-10, -10))


def test_receptive_field_box_bounds_what_a_unit_sees():
    net = small_net().eval()
    field = act.receptive_field(net, "5", 32)
    x = torch.randn(1, 3, 32, 32)
    y, xx = 4, 9
    top, left, bottom, right = field.box(y, xx)
    outside = x.clone() + 5 * torch.randn_like(x)
    outside[:, :, max(top, 0):bottom, max(left, 0):right] = x[:, :, max(top, 0):bottom, max(left, 0):right]
    base = act.activation_maps(net, x, "5")[0, :, y, xx]
    assert np.allclose(act.activation_maps(net, outside, "5")[0, :, y, xx], base, atol=1e-5)
    inside = x.clone()
    inside[:, :, top:bottom, left:right] += 5 * torch.randn(1, 3, bottom - top, right - left)
    assert not np.allclose(act.activation_maps(net, inside, "5")[0, :, y, xx], base, atol=1e-3)


def test_receptive_field_bad_input():
    with pytest.raises(ValueError, match="no layer 'nope'"):
        act.receptive_field(small_net(), "nope", 32)
    with pytest.raises(ValueError, match="input_size"):
        act.receptive_field(small_net(), "0", (0, 4))
    pooled = nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ValueError, match="whole input"):
        act.receptive_field(pooled, "1", 16, max_size=64)


# ----------------------------------------------------------------------------- activation maps

def test_activation_maps_shapes_and_channels():
    net = small_net()
    x = torch.randn(3, 3, 16, 16)
    maps = act.activation_maps(net, x, "2")
    expected = net[:3](x).detach().numpy()
    assert maps.shape == (3, 5, 16, 16) and maps.dtype == np.float32 and np.allclose(maps, expected, atol=1e-6)
    assert np.array_equal(act.activation_maps(net, x, "2", channels=[4, 1]), maps[:, [4, 1]])
    grid = act.activation_grid(maps, image_index=2, ncols=5)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[1] > 5 * 16


@pytest.mark.parametrize("kwargs, message", [
    (dict(layer="9"), "no layer"),
    (dict(channels=[5]), "out of range"),
    (dict(channels=[]), "non-empty"),
    (dict(x=torch.randn(3, 16, 16)), "shape"),
])
def test_activation_maps_bad_input(kwargs, message):
    args = dict(x=torch.randn(1, 3, 16, 16), layer="2")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        act.activation_maps(small_net(), args.pop("x"), args.pop("layer"), **args)
    flat = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4))
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        act.activation_maps(flat, torch.randn(1, 3, 16, 16), "1")


# ----------------------------------------------------------------------------- top patches

@pytest.mark.parametrize("distinct", [True, False])
def test_top_patch_has_the_maximal_activation(distinct):
    net = small_net()
    x = torch.randn(11, 3, 20, 20)
    result = act.top_activating_patches(net, x, "5", k=4, batch_size=4, distinct_images=distinct, progress=False)
    maps = act.activation_maps(net, x, "5")
    assert result.activation.shape == (6, 4) and result.patches.shape == (6, 4, 3, 10, 10)
    for c in range(6):
        assert result.activation[c, 0] == pytest.approx(maps[:, c].max(), abs=1e-6)
        assert np.all(np.diff(result.activation[c]) <= 0)
        found = maps[result.image_index[c], c, result.y[c], result.x[c]]
        assert np.allclose(found, result.activation[c], atol=1e-6)  # each reported unit has its value
        i, y, xx = result.image_index[c, 0], result.y[c, 0], result.x[c, 0]
        single = act.activation_maps(net, x[i:i + 1], "5", channels=[c])  # recomputed from its image alone
        assert single[0, 0, y, xx] == pytest.approx(result.activation[c, 0], abs=1e-5)
        if distinct:
            assert len(set(result.image_index[c])) == 4
            assert np.allclose(np.sort(maps[:, c].max((1, 2)))[::-1][:4], result.activation[c], atol=1e-6)
        else:
            assert np.allclose(np.sort(maps[:, c].ravel())[::-1][:4], result.activation[c], atol=1e-6)


def test_top_patches_crop_the_field_and_pad_outside():
    net = small_net()
    x = torch.randn(4, 3, 12, 12)
    result = act.top_activating_patches(net, x, "5", k=4, channels=[0, 3], pad_value=-7.0, progress=False)
    assert list(result.channels) == [0, 3]
    for c in range(2):
        for j in range(4):
            i = result.image_index[c, j]
            top, left, bottom, right = result.field.box(result.y[c, j], result.x[c, j])
            t, l, b, r = result.boxes[c, j]
            assert (t, l, b, r) == (max(top, 0), max(left, 0), min(bottom, 12), min(right, 12))
            patch = result.patches[c, j]
            inner = patch[:, t - top:b - top, l - left:r - left]
            assert np.array_equal(inner, x[i, :, t:b, l:r].numpy())
            assert (patch == -7.0).sum() == patch.size - inner.size


def test_top_patches_from_batches_folder_and_model_spec_agree(tmp_path):
    net = small_net()
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(5)]
    for n, picture in enumerate(pictures):
        write_image(tmp_path / f"{n}.png", picture)
    pre = Preprocessing(size=(16, 16))
    x = pre.images_to_batch(pictures)
    from_tensor = act.top_activating_patches(net, x, "4", k=3, progress=False)
    from_batches = act.top_activating_patches(net, [x[:2], x[2:]], "4", k=3, progress=False)
    spec = ModelSpec(net, pre, layers={"pool": "4"})
    from_folder = act.top_activating_patches(spec, tmp_path, "pool", k=3, batch_size=2, progress=False)
    for other in (from_batches, from_folder):
        assert np.array_equal(other.image_index, from_tensor.image_index)
        assert np.allclose(other.activation, from_tensor.activation, atol=1e-6)
        assert np.allclose(other.patches, from_tensor.patches, atol=1e-6)
    panel = act.patches_grid(from_folder, preprocessing=pre, max_channels=3)
    assert panel.dtype == np.uint8 and panel.ndim == 3
    with pytest.raises(ValueError, match="preprocessing"):
        act.top_activating_patches(net, tmp_path, "4", progress=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(k=0), "k must be"),
    (dict(images=[]), "empty"),
    (dict(layer="zz"), "no layer"),
    (dict(channels=[9]), "out of range"),
])
def test_top_patches_bad_input(kwargs, message):
    args = dict(images=torch.randn(2, 3, 12, 12), layer="2")
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        act.top_activating_patches(small_net(), args.pop("images"), args.pop("layer"), progress=False, **args)


# ----------------------------------------------------------------------------- features and neighbours

def test_extract_features_flatten_and_pooling():
    net = small_net()
    x = torch.randn(5, 3, 16, 16)
    maps = act.activation_maps(net, x, "4")
    flat = act.extract_features(net, x, "4", batch_size=2, progress=False)
    avg = act.extract_features(net, x, "4", pooling="avg", progress=False)
    assert flat.shape == (5, 5 * 8 * 8) and np.allclose(flat, maps.reshape(5, -1), atol=1e-6)
    assert avg.shape == (5, 5) and np.allclose(avg, maps.mean((2, 3)), atol=1e-6)
    with pytest.raises(ValueError, match="pooling"):
        act.extract_features(net, x, "4", pooling="sum", progress=False)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_gallery_items_are_their_own_nearest_neighbours(metric):
    net = small_net()
    gallery = torch.randn(7, 3, 16, 16)
    indices, distances = act.feature_neighbours(net, gallery, gallery, "4", k=3, metric=metric, progress=False)
    assert indices.shape == distances.shape == (7, 3)
    assert np.array_equal(indices[:, 0], np.arange(7))
    assert np.allclose(distances[:, 0], 0.0, atol=1e-4) and np.all(np.diff(distances, axis=1) >= 0)
    with pytest.raises(ValueError, match="gallery size"):
        act.feature_neighbours(net, gallery[:1], gallery, "4", k=8, progress=False)
    with pytest.raises(ValueError, match="k must be"):
        act.feature_neighbours(net, gallery[:1], gallery, "4", k=0, progress=False)
    with pytest.raises(ValueError, match="metric"):
        act.feature_neighbours(net, gallery[:1], gallery, "4", metric="cos", progress=False)


def test_nearest_neighbours_on_known_vectors():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 0.1], [-1.0, 0.0]])
    idx, dist = act.nearest_neighbours(np.array([[2.0, 0.0]]), gallery, k=4, metric="l2")
    assert list(idx[0]) == [0, 2, 1, 3] and dist[0, 1] == pytest.approx(np.hypot(1.0, 0.1))
    idx, dist = act.nearest_neighbours(np.array([[2.0, 0.0]]), gallery, k=2, metric="cosine")
    assert list(idx[0]) == [0, 2] and dist[0, 0] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="feature size"):
        act.nearest_neighbours(np.zeros((1, 3)), gallery, k=1)


# ----------------------------------------------------------------------------- embeddings

def test_pca_recovers_the_principal_axis():
    rng = np.random.default_rng(0)
    axis = rng.normal(size=10)
    axis /= np.linalg.norm(axis)
    t = rng.normal(size=200) * 5.0
    data = t[:, None] * axis + rng.normal(size=(200, 10)) * 0.1 + 3.0
    projections, axes, ratio = act.pca(data, 2)
    assert abs(axes[0] @ axis) > 0.999 and ratio[0] > 0.95 and ratio[0] >= ratio[1]
    assert abs(np.corrcoef(projections[:, 0], t)[0, 1]) > 0.999
    assert np.allclose(act.embed_2d(data, "pca"), projections)
    one_dim = act.embed_2d(np.arange(4.0)[:, None], "pca")
    assert one_dim.shape == (4, 2) and np.all(one_dim[:, 1] == 0)


def test_tsne_returns_finite_points_for_small_n():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (6, 8)), rng.normal(8, 1, (6, 8))])
    points = act.embed_2d(features, "tsne", seed=0, max_iter=250)
    assert points.shape == (12, 2) and np.isfinite(points).all()
    assert act.embed_2d(features[:3], "tsne", max_iter=250).shape == (3, 2)  # perplexity clipped


@pytest.mark.parametrize("features, kwargs, message", [
    (np.zeros((1, 4)), {}, "at least 2"),
    (np.zeros((4,)), {}, r"\(N, D\)"),
    (np.full((3, 2), np.nan), {}, "NaN"),
    (np.zeros((3, 2)), dict(method="umap"), "method"),
    (np.zeros((3, 2)), dict(method="tsne", perplexity=0), "perplexity"),
    (np.zeros((3, 2)), dict(method="tsne", max_iter=10), "max_iter"),
])
def test_embed_2d_bad_input(features, kwargs, message):
    with pytest.raises(ValueError, match=message):
        act.embed_2d(features, **kwargs)


# ----------------------------------------------------------------------------- the caller's model

def test_model_and_input_are_left_unchanged():
    net = small_net().train()
    net[2].weight.requires_grad_(False)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    x = torch.randn(4, 3, 16, 16)
    x_before = x.clone()
    act.activation_maps(net, x, "2")
    act.receptive_field(net, "5", 16)
    act.top_activating_patches(net, x, "5", k=2, progress=False)
    act.feature_neighbours(net, x, x, "4", k=2, progress=False)
    assert all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())
    assert torch.equal(x, x_before)


def test_a_deep_strided_layer_is_probed_even_when_its_map_starts_at_1x1():
    from torch import nn

    from pyfast.explain.activations import receptive_field

    layers = [nn.Conv2d(3 if i == 0 else 4, 4, 3, stride=2, padding=1) for i in range(5)]  # total stride 32
    model = nn.Sequential(*[m for conv in layers for m in (conv, nn.ReLU())])
    field = receptive_field(model, "8", 16)  # the fifth conv: 1x1 at 16 px and at 32 px
    assert field.stride == (32, 32) and field.size[0] > 32
