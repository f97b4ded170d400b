import numpy as np
import pytest
import torch

from pyfast.explain.class_visualization import class_visualization
from pyfast.explain.transforms import standard_transforms

from .test_saliency import CallerState, tiny_cnn


def eval_scores(model, images: np.ndarray, target: list[int]) -> np.ndarray:
    with torch.no_grad():
        scores = tiny_cnn().eval()(torch.from_numpy(images))
    return scores[torch.arange(len(target)), torch.tensor(target)].numpy()


def test_gradient_ascent_raises_the_target_score():
    model, x = tiny_cnn(), torch.randn(2, 3, 16, 16) * 0.5
    state = CallerState(model, x)
    result = class_visualization(model, x, [1, 3], num_iterations=15, learning_rate=10, l2_reg=1e-4,
                                 max_jitter=2, seed=0, progress=False)
    state.assert_unchanged()
    assert result.images.shape == (2, 3, 16, 16) and result.images.dtype == np.float32
    assert result.scores.shape == (15, 2) and result.targets.tolist() == [1, 3]
    before, after = eval_scores(model, x.numpy(), [1, 3]), eval_scores(model, result.images, [1, 3])
    assert (after > before + 0.05).all(), (before, after)
    assert (result.scores[-1] > result.scores[0]).all()


def test_bounds_are_respected():
    model, x = tiny_cnn(), torch.randn(1, 3, 16, 16)
    result = class_visualization(model, x, 2, num_iterations=5, bounds=(-0.5, 0.5), seed=0, progress=False)
    assert result.images.min() >= -0.5 and result.images.max() <= 0.5


def test_fourier_parameterisation_with_lucid_transforms_raises_the_score():
    model, x = tiny_cnn(), torch.randn(1, 3, 16, 16) * 0.2
    result = class_visualization(model, x, 4, num_iterations=15, parameterisation="fft", learning_rate=0.1,
                                 l2_reg=0.0, transforms=standard_transforms(), bounds=(-2.0, 2.0), seed=0,
                                 progress=False)
    assert np.abs(result.images).max() <= 2.0
    assert eval_scores(model, result.images, [4])[0] > eval_scores(model, x.numpy(), [4])[0] + 0.02
    assert result.scores[-3:].mean() > result.scores[:3].mean()


def test_same_seed_same_images():
    model, x = tiny_cnn(), torch.randn(1, 3, 12, 12)
    a = class_visualization(model, x, 0, num_iterations=3, seed=5, progress=False)
    b = class_visualization(model, x, 0, num_iterations=3, seed=5, progress=False)
    np.testing.assert_array_equal(a.images, b.images)


@pytest.mark.parametrize("kwargs, match", [
    (dict(target=None), "target"),
    (dict(target=9), "out of range"),
    (dict(target=0, num_iterations=0), "num_iterations"),
    (dict(target=0, learning_rate=-1.0), "learning_rate"),
    (dict(target=0, l2_reg=-1.0), "l2_reg"),
    (dict(target=0, blur_every=-1), "blur_every"),
    (dict(target=0, max_jitter=1.5), "max_jitter"),
    (dict(target=0, parameterisation="dct"), "parameterisation"),
    (dict(target=0, transforms="jitter"), "transforms"),
])
def test_bad_arguments_raise(kwargs, match):
    model, x = tiny_cnn(), torch.randn(1, 3, 8, 8)
    state = CallerState(model, x)
    with pytest.raises(ValueError, match=match):
        class_visualization(model, x, progress=False, **kwargs)
    state.assert_unchanged()
    with pytest.raises(ValueError, match="N, C, H, W"):
        class_visualization(model, x[0], 0)
