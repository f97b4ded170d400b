import math

import pytest
import torch

from pyfast.explain.transforms import (
    Compose,
    FourierImage,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    clamp_to_bounds,
    correlate_colors,
    decorrelate_colors,
    gaussian_blur,
    image_to_spectrum,
    random_roll,
    resolve_bounds,
    roll,
    spectrum_to_image,
    standard_transforms,
    value_range,
)


def test_roll_wraps_and_random_roll_can_be_undone():
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 5, 6)
    assert torch.equal(roll(x, 2, 1)[:, :, 1, 2], x[:, :, 0, 0])
    rolled, (ox, oy) = random_roll(x, 3, torch.Generator().manual_seed(1))
    assert -3 <= ox <= 3 and -3 <= oy <= 3
    assert torch.equal(roll(rolled, -ox, -oy), x)
    assert random_roll(x, 0)[0] is x


def test_gaussian_blur_matches_a_dense_2d_convolution():
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    sigma = 0.8
    r = math.ceil(3 * sigma)
    offsets = torch.arange(-r, r + 1, dtype=torch.float64)
    k1 = torch.exp(-0.5 * (offsets / sigma) ** 2)
    k2 = torch.outer(k1, k1) / k1.sum() ** 2
    padded = torch.nn.functional.pad(x, (r, r, r, r), mode="reflect")
    expected = torch.nn.functional.conv2d(padded, k2.expand(3, 1, -1, -1), groups=3)
    torch.testing.assert_close(gaussian_blur(x, sigma), expected)
    const = torch.full((1, 1, 6, 6), 0.3)
    torch.testing.assert_close(gaussian_blur(const, 2.0), const)  # tiny image: replicate padding
    with pytest.raises(ValueError, match="sigma"):
        gaussian_blur(x, 0.0)


def test_lucid_transforms_shapes_and_determinism():
    x = torch.randn(2, 3, 20, 20)
    assert Pad(3)(x).shape == (2, 3, 26, 26)
    assert torch.equal(Pad(3)(x)[:, :, 3:-3, 3:-3], x)
    crop = Jitter(4)(x, torch.Generator().manual_seed(0))
    assert crop.shape == (2, 3, 16, 16)
    assert RandomScale([0.5])(x).shape == (2, 3, 10, 10)
    torch.testing.assert_close(RandomRotate([0.0])(x), x, atol=1e-5, rtol=0)
    rotated = RandomRotate([90.0])(x)
    torch.testing.assert_close(rotated, torch.rot90(x, 1, dims=(2, 3)), atol=1e-4, rtol=0)
    chain = standard_transforms()
    a = chain(x, torch.Generator().manual_seed(3))
    b = chain(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.dim() == 4
    y = x.clone().requires_grad_(True)
    Compose([Pad(2), Jitter(2), RandomScale([1.1]), RandomRotate([5])])(y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_bounds_helpers():
    low, high = resolve_bounds((0.0, [1.0, 2.0, 3.0]), 3)
    assert low.shape == (1, 3, 1, 1) and high.flatten().tolist() == [1.0, 2.0, 3.0]
    x = torch.full((1, 3, 2, 2), 2.5)
    assert clamp_to_bounds(x, (low, high)).flatten(1)[0, ::4].tolist() == [1.0, 2.0, 2.5]
    assert value_range(x, (low, high)).flatten().tolist() == [1.0, 2.0, 3.0]
    assert value_range(x, None).item() == 1.0  # constant image
    for bad in [(1.0,), (1.0, 0.0), ([0.0, 0.0], [1.0, 1.0])]:
        with pytest.raises(ValueError, match="bounds"):
            resolve_bounds(bad, 3)


def test_colour_decorrelation_and_spectrum_are_inverses():
    x = torch.randn(2, 3, 7, 10, dtype=torch.float64)
    torch.testing.assert_close(correlate_colors(decorrelate_colors(x)), x)
    torch.testing.assert_close(spectrum_to_image(image_to_spectrum(x, decay=1.0), (7, 10), decay=1.0), x)


@pytest.mark.parametrize("bounds", [None, ([-2.0, -1.0, -3.0], [2.0, 1.0, 3.0])])
def test_fourier_image_inverse(bounds):
    x = torch.rand(2, 3, 12, 9) * 1.6 - 0.8  # inside the bounds
    module = FourierImage.from_images(x, bounds=bounds)
    torch.testing.assert_close(module(), x, atol=1e-5, rtol=1e-5)
    random = FourierImage((1, 3, 8, 8), bounds=bounds, std=1.0, generator=torch.Generator().manual_seed(0))
    image = random()
    if bounds is not None:
        low, high = resolve_bounds(bounds, 3)
        assert bool(((image > low) & (image < high)).all())
    again = FourierImage((1, 3, 8, 8), bounds=bounds).set_images(image.detach())
    torch.testing.assert_close(again(), image.detach(), atol=1e-4, rtol=1e-4)


def test_fourier_image_checks():
    with pytest.raises(ValueError, match="3 channels"):
        FourierImage((1, 1, 8, 8), decorrelate=True)
    assert not FourierImage((1, 1, 8, 8)).decorrelate
    with pytest.raises(ValueError, match="shape"):
        FourierImage((1, 3, 8))
