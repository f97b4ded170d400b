import numpy as np
import pytest
import torch
from torch import nn

from pyfast.explain.deepdream import activation_objective, deepdream, layer_activations

from .test_saliency import CallerState, tiny_cnn


def layer_norm(model, images, layers) -> torch.Tensor:
    with torch.no_grad():
        return activation_objective(layer_activations(model.eval(), torch.as_tensor(images), layers))


@pytest.mark.parametrize("layers", ["act1", ["act1", "act2"]])
def test_deepdream_raises_the_layer_activation_norm(layers):
    model, x = tiny_cnn(), torch.randn(2, 3, 16, 16) * 0.5
    state = CallerState(model, x)
    dreams = deepdream(model, x, layers, octaves=2, steps_per_octave=4, max_jitter=2, seed=0, progress=False)
    state.assert_unchanged()
    assert dreams.shape == (2, 3, 16, 16) and dreams.dtype == np.float32
    names = [layers] if isinstance(layers, str) else layers
    before, after = layer_norm(tiny_cnn(), x, names), layer_norm(tiny_cnn(), dreams, names)
    assert (after > 1.2 * before).all(), (before, after)


def test_step_size_is_a_fraction_of_the_range_and_bounds_hold():
    model, x = tiny_cnn(), torch.rand(1, 3, 16, 16)
    dreams = deepdream(model, x, "conv2", octaves=1, steps_per_octave=1, step_size=2.55, max_jitter=0,
                       bounds=(0.0, 1.0), progress=False)
    change = np.abs(dreams - x.numpy())
    # one normalised step: mean |change| = 2.55 / 255 * range(=1), less where clamped
    assert 0.005 < change.mean() <= 0.01 + 1e-6
    assert dreams.min() >= 0.0 and dreams.max() <= 1.0


def test_forward_stops_at_the_layer_so_smaller_octaves_work_with_a_fixed_size_head():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16 * 16, 3))
    x = torch.randn(1, 3, 16, 16)
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 3, 11, 11))
    dreams = deepdream(model, x, "1", octaves=2, steps_per_octave=2, max_jitter=1, progress=False)
    assert dreams.shape == x.shape
    assert not any(len(m._forward_hooks) for m in model.modules())


@pytest.mark.parametrize("kwargs, match", [
    (dict(layers="nope"), "no layer 'nope'"),
    (dict(layers=[]), "layers"),
    (dict(layers="act1", octaves=0), "octaves"),
    (dict(layers="act1", octave_scale=1.0), "octave_scale"),
    (dict(layers="act1", steps_per_octave=0), "steps_per_octave"),
    (dict(layers="act1", step_size=0), "step_size"),
    (dict(layers="act1", max_jitter=-1), "max_jitter"),
])
def test_bad_arguments_raise(kwargs, match):
    model, x = tiny_cnn(), torch.randn(1, 3, 8, 8)
    state = CallerState(model, x)
    with pytest.raises(ValueError, match=match):
        deepdream(model, x, progress=False, **kwargs)
    state.assert_unchanged()


def test_a_layer_that_never_runs_raises():
    model = tiny_cnn()
    model.unused = nn.ReLU()
    with pytest.raises(ValueError, match="did not run"):
        deepdream(model, torch.randn(1, 3, 8, 8), "unused", progress=False)
