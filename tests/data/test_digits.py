import numpy as np
import pytest
from PIL import Image as PILImage

from pyfast.data.digits import HELDOUT_SEED, binarize, load_dataset, load_image_folder, make_digits


def test_digits_are_deterministic_per_seed_and_index():
    images, labels = make_digits(12, seed=3)
    again, again_labels = make_digits(12, seed=3)
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)
    prefix, prefix_labels = make_digits(5, seed=3)  # digit i depends on (seed, i) only, not on n
    np.testing.assert_array_equal(prefix, images[:5])
    np.testing.assert_array_equal(prefix_labels, labels[:5])
    assert not np.array_equal(make_digits(12, seed=HELDOUT_SEED)[0], images)


def test_shapes_ranges_and_labels():
    images, labels = make_digits(200, size=28)
    assert images.shape == (200, 1, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (200,) and labels.dtype == np.int64
    assert set(labels.tolist()) == set(range(10))
    assert images.max() >= 200  # bright strokes
    # MNIST-like: ink in the middle, an almost black frame.
    border = np.concatenate([images[..., :2, :].ravel(), images[..., -2:, :].ravel()])
    assert border.mean() < 10 and images[..., 8:20, 8:20].mean() > 4 * border.mean() + 20
    assert make_digits(3, size=32)[0].shape == (3, 1, 32, 32)
    assert make_digits(0)[0].shape == (0, 1, 28, 28)


def test_binary_variant_thresholds_the_8bit_digits():
    eight, labels = make_digits(20, seed=1)
    binary, binary_labels = make_digits(20, seed=1, variant="binary")
    assert set(np.unique(binary).tolist()) == {0, 1}
    np.testing.assert_array_equal(binary, binarize(eight))
    np.testing.assert_array_equal(labels, binary_labels)
    assert 0.05 < binary.mean() < 0.4  # strokes, not blank or filled


@pytest.mark.parametrize("kwargs, match", [
    ({"n": -1}, "n must be"), ({"n": 2, "size": 4}, "size must be"), ({"n": 2, "variant": "4bit"}, "variant"),
    ({"n": 2, "seed": -3}, "seed must be"),
])
def test_make_digits_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_digits(**kwargs)


def _write_folder(folder):
    folder.mkdir()
    (folder / "sub").mkdir()
    red = np.zeros((40, 60, 3), np.uint8)
    red[..., 0] = 255
    PILImage.fromarray(red).save(folder / "a_red.png")
    PILImage.fromarray(np.full((20, 20), 200, np.uint8), "L").save(folder / "sub" / "b_gray.jpg")
    (folder / "c_notes.txt").write_text("not an image")


def test_image_folder_gray_and_rgb(tmp_path):
    _write_folder(tmp_path / "imgs")
    gray = load_image_folder(tmp_path / "imgs", size=16, channels=1)
    assert gray.shape == (2, 1, 16, 16) and gray.dtype == np.uint8
    assert abs(int(gray[0].mean()) - 76) <= 1  # BT.601 luma of pure red
    rgb = load_image_folder(tmp_path / "imgs", size=16, channels=3)
    assert rgb.shape == (2, 3, 16, 16)
    assert (rgb[0, 0] == 255).all() and (rgb[0, 1:] == 0).all()
    binary = load_dataset(tmp_path / "imgs", size=16, variant="binary")
    np.testing.assert_array_equal(binary, binarize(gray))


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        load_image_folder(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.warns(RuntimeWarning, match="skipping"), pytest.raises(ValueError, match="no readable images"):
        load_image_folder(tmp_path / "broken")
    with pytest.raises(ValueError, match="channels"):
        load_image_folder(tmp_path / "empty", channels=2)


def test_dataset_defaults_to_generated_digits():
    np.testing.assert_array_equal(load_dataset(n=4, seed=2), make_digits(4, seed=2)[0])
    with pytest.raises(ValueError, match="1 channel"):
        load_dataset(n=4, channels=3)
