import numpy as np
import pytest

from pyfast.data.glyphs import CLASS_NAMES, NUM_CLASSES, make_glyphs, render_digit, sample_glyphs


def test_class_names_are_digits_then_shapes():
    assert NUM_CLASSES == len(CLASS_NAMES) == 16
    assert CLASS_NAMES[:10] == tuple("0123456789")
    assert len(set(CLASS_NAMES)) == NUM_CLASSES


@pytest.mark.parametrize("size", [28, 64])
def test_render_digit_shape_range_and_coverage(size):
    rng = np.random.default_rng(0)
    for digit in range(10):
        img = render_digit(digit, size, rng)
        assert img.shape == (size, size) and img.dtype == np.float32
        assert img.min() >= 0.0 and img.max() <= 1.0
        assert img.max() > 0.99  # the stroke core is fully covered
        assert 0.04 < img.mean() < 0.4  # a stroke drawing, not a blob or an empty picture
        assert np.unique(img).size > 3  # anti-aliased edges


def test_render_digit_is_deterministic_per_generator_state():
    a = render_digit(7, 28, np.random.default_rng(5))
    b = render_digit(7, 28, np.random.default_rng(5))
    c = render_digit(7, 28, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_render_digit_canonical_glyph_is_centred_and_rng_free():
    a = render_digit(0, 28, np.random.default_rng(1), stroke=0.1, affine=False)
    b = render_digit(0, 28, np.random.default_rng(2), stroke=0.1, affine=False)
    np.testing.assert_array_equal(a, b)
    ys, xs = np.mgrid[0:28, 0:28] + 0.5
    assert abs((a * ys).sum() / a.sum() - 14) < 0.5 and abs((a * xs).sum() / a.sum() - 14) < 0.5
    assert a[:2].max() == 0 and a[-2:].max() == 0  # MNIST-like margin (the glyph fills ~20 of 28 rows)


def test_render_digits_differ_from_each_other():
    glyphs = [render_digit(d, 28, np.random.default_rng(0), stroke=0.1, affine=False) for d in range(10)]
    for i in range(10):
        for j in range(i + 1, 10):
            assert np.abs(glyphs[i] - glyphs[j]).mean() > 0.03, (i, j)


@pytest.mark.parametrize("kwargs", [{"digit": 10}, {"digit": -1}, {"digit": 3.0}, {"size": 4},
                                    {"stroke": 0.0}, {"stroke": 0.9}])
def test_render_digit_rejects_bad_arguments(kwargs):
    args = {"digit": 3, "size": 28, "rng": np.random.default_rng(0)} | kwargs
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        render_digit(args.pop("digit"), args.pop("size"), args.pop("rng"), **args)


def test_make_glyphs_shapes_labels_and_determinism():
    images, labels = make_glyphs(64, size=48, seed=3)
    assert images.shape == (64, 48, 48, 3) and images.dtype == np.uint8
    assert labels.shape == (64,) and labels.dtype == np.int64
    assert labels.min() >= 0 and labels.max() < NUM_CLASSES
    again, again_labels = make_glyphs(64, size=48, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    prefix, prefix_labels = make_glyphs(10, size=48, seed=3)  # picture i depends on (seed, i) only
    np.testing.assert_array_equal(prefix, images[:10])
    np.testing.assert_array_equal(prefix_labels, labels[:10])
    other, _ = make_glyphs(10, size=48, seed=4)
    assert not np.array_equal(other, images[:10])


def test_make_glyphs_covers_every_class_and_has_contrast():
    images, labels = make_glyphs(320, size=32, seed=0)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    assert counts.min() >= 8  # about 20 each
    spread = images.reshape(len(images), -1, 3).astype(np.float32).mean(-1)
    assert (np.percentile(spread, 98, axis=1) - np.percentile(spread, 2, axis=1)).min() > 40


def test_make_glyphs_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n must"):
        make_glyphs(-1)
    with pytest.raises(ValueError, match="seed must"):
        make_glyphs(2, seed=-3)
    with pytest.raises(ValueError, match="size must"):
        make_glyphs(2, size=3)
    images, labels = make_glyphs(0)
    assert images.shape == (0, 64, 64, 3) and labels.shape == (0,)


def test_sample_glyphs_shows_each_class_in_turn():
    images, labels = sample_glyphs(18, size=32)
    assert images.shape == (18, 32, 32, 3)
    np.testing.assert_array_equal(labels, np.arange(18) % NUM_CLASSES)
    np.testing.assert_array_equal(sample_glyphs(18, size=32)[0], images)
    with pytest.raises(ValueError, match="n must"):
        sample_glyphs(0)
