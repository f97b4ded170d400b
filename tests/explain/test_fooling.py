import numpy as np
import pytest
import torch

from pyfast.explain.fooling import fooling_images

from .test_saliency import CallerState, tiny_cnn


def test_fooling_flips_the_prediction():
    model, x = tiny_cnn(), torch.randn(3, 3, 12, 12)
    with torch.no_grad():
        predicted = tiny_cnn().eval()(x).argmax(1)
    target = ((predicted + 1) % 5).tolist()
    state = CallerState(model, x)
    result = fooling_images(model, x, target, learning_rate=2.0, max_steps=100, progress=False)
    state.assert_unchanged()
    assert result.success.all() and result.success.dtype == bool
    with torch.no_grad():
        now = tiny_cnn().eval()(torch.from_numpy(result.images)).argmax(1)
    assert now.tolist() == target == result.predicted.tolist()
    assert (result.steps >= 1).all() and (result.steps <= 100).all()
    delta = (result.images - x.numpy()).reshape(3, -1)
    np.testing.assert_allclose(result.l2, np.linalg.norm(delta, axis=1), rtol=1e-5)
    np.testing.assert_allclose(result.linf, np.abs(delta).max(1), rtol=1e-5)
    # each step has L2 norm learning_rate: the perturbation cannot be longer than steps * lr
    assert (result.l2 <= result.steps * 2.0 + 1e-4).all()


def test_an_image_already_in_the_target_class_is_left_as_is():
    model, x = tiny_cnn(), torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1)
    model.train()
    target = [int(predicted[0]), (int(predicted[1]) + 2) % 5]
    result = fooling_images(model, x, target, learning_rate=2.0, max_steps=40, progress=False)
    assert result.steps[0] == 0 and result.l2[0] == 0 and result.success[0]
    np.testing.assert_array_equal(result.images[0], x[0].numpy())


def test_max_steps_and_bounds_limit_the_search():
    model, x = tiny_cnn(), torch.rand(2, 3, 16, 16) * 0.2
    with torch.no_grad():
        predicted = model.eval()(x).argmax(1)
    target = ((predicted + 1) % 5).tolist()
    result = fooling_images(model, x, target, learning_rate=0.01, max_steps=3, bounds=(0.0, 0.2), progress=False)
    assert not result.success.any()
    assert result.steps.tolist() == [3, 3]
    assert result.images.min() >= 0.0 and result.images.max() <= 0.2


@pytest.mark.parametrize("kwargs, match", [
    (dict(target=None), "target"),
    (dict(target=[0, 1]), "one per image"),
    (dict(target=5), "out of range"),
    (dict(target=0, max_steps=0), "max_steps"),
    (dict(target=0, learning_rate=0.0), "learning_rate"),
])
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fooling_images(tiny_cnn(), torch.randn(1, 3, 8, 8), progress=False, **kwargs)


def test_shipped_classifier_is_fooled_within_its_valid_inputs():
    models = pytest.importorskip("pyfast.explain.models")
    try:
        spec = models.load_model_spec()
    except (FileNotFoundError, ValueError) as error:
        pytest.skip(f"shipped classifier not available: {error}")
    rng = np.random.default_rng(0)
    x = spec.preprocessing.images_to_batch([rng.integers(0, 256, (*spec.preprocessing.size, 3), dtype=np.uint8)])
    with torch.no_grad():
        scores = spec.module(x)
    target = (int(scores.argmax(1)) + 1) % scores.shape[1]
    state = CallerState(spec.module, x)
    low, high = spec.preprocessing.bounds()
    result = fooling_images(spec.module, x, target, max_steps=200, bounds=(low, high), progress=False)
    state.assert_unchanged()
    assert result.success[0] and result.predicted[0] == target
    images = torch.from_numpy(result.images)
    assert (images >= low - 1e-6).all() and (images <= high + 1e-6).all()
