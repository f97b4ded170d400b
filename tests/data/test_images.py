import numpy as np
import pytest
from PIL import Image as PILImage

from pyfast.data import fit_within, list_images, read_image, sample_images, write_image
from pyfast.data.procedural import STYLES


def test_reads_rgb_gray_rgba_and_palette(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    PILImage.fromarray(rgb).save(tmp_path / "rgb.png")
    PILImage.fromarray(rgb[..., 0], "L").save(tmp_path / "gray.png")
    PILImage.fromarray(np.dstack([rgb, np.full((7, 9), 77, np.uint8)]), "RGBA").save(tmp_path / "rgba.png")
    PILImage.fromarray(rgb).convert("P").save(tmp_path / "pal.gif")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png").rgb, rgb)
    gray = read_image(tmp_path / "gray.png")
    assert gray.rgb.shape == (7, 9, 3) and (gray.rgb[..., 0] == gray.rgb[..., 2]).all()
    rgba = read_image(tmp_path / "rgba.png")
    assert rgba.alpha is not None and (rgba.alpha == 77).all()
    assert read_image(tmp_path / "pal.gif").rgb.shape == (7, 9, 3)


def test_alpha_is_written_to_png_and_dropped_for_jpeg(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    alpha = np.full((4, 4), 9, np.uint8)
    assert read_image(write_image(tmp_path / "a.png", rgb, alpha)).alpha[0, 0] == 9
    assert read_image(write_image(tmp_path / "a.jpg", rgb, alpha)).alpha is None


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ValueError, match="corrupt.jpg is not a readable image"):
        read_image(tmp_path / "corrupt.jpg")
    PILImage.fromarray(np.zeros((50, 50, 3), np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="over the limit of 100"):
        read_image(tmp_path / "big.png", max_pixels=100)
    with pytest.raises(ValueError, match="unsupported image extension '.xyz'"):
        write_image(tmp_path / "x.xyz", np.zeros((2, 2, 3), np.uint8))


def test_fit_within_and_listing(tmp_path):
    assert fit_within(300, 500, 100) == (60, 100)
    assert fit_within(30, 50, 100) == (30, 50)
    write_image(tmp_path / "a" / "x.png", np.zeros((2, 2, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images(tmp_path)] == ["x.png"]


def test_shipped_samples_and_painted_styles():
    assert len(sample_images()) >= 4
    for name, paint in STYLES.items():
        img = paint(size=64)
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and img.std() > 20, name
        np.testing.assert_array_equal(img, paint(size=64))  # deterministic


def test_high_depth_grayscale_is_scaled_not_clipped(tmp_path):
    ramp = np.tile(np.arange(0, 65536, 257 * 3, dtype=np.uint16), (4, 1))  # 0, 771, ... as 16-bit
    PILImage.fromarray(ramp).save(tmp_path / "g16.png")  # written as a 16-bit grayscale PNG
    with PILImage.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png").rgb[..., 1], ramp >> 8)
    as_float = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    PILImage.fromarray(as_float, "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif").rgb[..., 0], np.round(as_float * 255))
    small = np.arange(12, dtype=np.int32).reshape(3, 4)
    PILImage.fromarray(small, "I").save(tmp_path / "i.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "i.tif").rgb[..., 2], small)


def test_exif_orientation_is_applied(tmp_path):
    stored = np.zeros((40, 24, 3), np.uint8)
    stored[:5] = 255  # a white band along the stored top edge
    im = PILImage.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    im.save(tmp_path / "portrait.png", exif=exif)
    upright = read_image(tmp_path / "portrait.png").rgb
    assert upright.shape == (24, 40, 3)
    assert upright[:, -5:].min() == 255 and upright[:, :-5].max() == 0  # the band is now on the right


def test_float_grayscale_with_non_finite_values(tmp_path):
    values = np.array([[np.inf, 0.5, 1.0, 0.25], [np.nan, -np.inf, 0.0, 0.75]], np.float32)
    PILImage.fromarray(values, "F").save(tmp_path / "f.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "f.tif").rgb[..., 0], [[255, 128, 255, 64], [0, 0, 0, 191]])
