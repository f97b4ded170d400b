import numpy as np
import pytest
import torch

from pyfast.explain.deepdream import layer_activations
from pyfast.explain.inversion import feature_inversion
from pyfast.ops import total_variation

from .test_saliency import CallerState, tiny_cnn


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_inversion_loss_falls(optimizer):
    model, x = tiny_cnn(), torch.randn(2, 3, 12, 12) * 0.5
    state = CallerState(model, x)
    result = feature_inversion(model, x, "act2", num_iterations=20, optimizer=optimizer, seed=0, progress=False)
    state.assert_unchanged()
    assert result.images.shape == x.shape and result.losses.shape == (20, 2)
    assert (result.losses[-1] < 0.6 * result.losses[0]).all(), result.losses[[0, -1]]
    assert (result.feature_losses <= result.losses + 1e-6).all()
    # the reported feature loss is the relative feature distance of the returned images
    with torch.no_grad():
        goal = layer_activations(tiny_cnn().eval(), x, ["act2"])["act2"].flatten(1)
        got = layer_activations(tiny_cnn().eval(), torch.from_numpy(result.images), ["act2"])["act2"].flatten(1)
    relative = ((got - goal).square().sum(1) / goal.square().sum(1)).numpy()
    assert (relative < result.feature_losses[0]).all()


def test_tv_weight_smooths_the_reconstruction_and_bounds_hold():
    model, x = tiny_cnn(), torch.rand(1, 3, 12, 12)
    runs = {w: feature_inversion(model, x, "act1", num_iterations=15, tv_weight=w, tv_beta=1.5, norm_weight=1e-3,
                                 bounds=(0.0, 1.0), seed=1, progress=False) for w in (0.0, 5.0)}
    tv = {w: float(total_variation(torch.from_numpy(r.images), beta=1.5)) for w, r in runs.items()}
    assert tv[5.0] < tv[0.0]
    for r in runs.values():
        assert r.images.min() >= 0.0 and r.images.max() <= 1.0


def test_init_is_the_starting_point():
    model, x = tiny_cnn(), torch.randn(1, 3, 8, 8)
    result = feature_inversion(model, x, "act2", num_iterations=1, init=x, learning_rate=1e-6, progress=False)
    np.testing.assert_allclose(result.images, x.numpy(), atol=1e-4)
    assert result.feature_losses[0, 0] < 1e-10


@pytest.mark.parametrize("kwargs, match", [
    (dict(layer="nope"), "no layer"),
    (dict(layer="act2", num_iterations=0), "num_iterations"),
    (dict(layer="act2", optimizer="sgd"), "optimizer"),
    (dict(layer="act2", learning_rate=0.0), "learning_rate"),
    (dict(layer="act2", tv_weight=-1.0), "tv_weight"),
    (dict(layer="act2", tv_beta=-1.0), "tv_beta"),
    (dict(layer="act2", norm_alpha=0.0), "norm_alpha"),
    (dict(layer="act2", init=torch.zeros(1, 3, 4, 4)), "init"),
])
def test_bad_arguments_raise(kwargs, match):
    model, x = tiny_cnn(), torch.randn(1, 3, 8, 8)
    state = CallerState(model, x)
    with pytest.raises(ValueError, match=match):
        feature_inversion(model, x, progress=False, **kwargs)
    state.assert_unchanged()
