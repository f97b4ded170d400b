import numpy as np
import pytest
from PIL import Image as PILImage

from pyfast.data import fit_within, list_images, read_image, resize, sample_images, write_image
from pyfast.data.procedural import STYLES
from tests.helpers import decode_in_threads_over_pillows_warning_size, png_header_only


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


def test_pixel_limits_leave_pillows_setting_alone_across_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    PILImage.fromarray(np.zeros((60, 50, 3), np.uint8)).save(tmp_path / "img.png")
    before = PILImage.MAX_IMAGE_PIXELS

    def read(limit):  # 3000 px: over the limit of 2000, under 5000
        try:
            return read_image(tmp_path / "img.png", max_pixels=limit).rgb.shape
        except ValueError as exc:
            return str(exc)

    limits = [2000, 5000] * 100
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(read, limits))
    assert PILImage.MAX_IMAGE_PIXELS == before
    for limit, result in zip(limits, results):
        assert result == ((60, 50, 3) if limit == 5000 else f"{tmp_path / 'img.png'}: 50x60 pixels is over the limit of 2000")


def test_reading_from_many_threads_leaves_the_warning_filters_alone(tmp_path):
    PILImage.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "img.png")
    assert decode_in_threads_over_pillows_warning_size(lambda _: read_image(tmp_path / "img.png")) == (False, 0)


def test_reading_inside_a_block_that_ignores_warnings_does_not_wait_for_itself(tmp_path):
    import threading

    from pyfast.data.images import ignoring_warnings

    PILImage.fromarray(np.zeros((20, 20, 3), np.uint8)).save(tmp_path / "img.png")
    done = []

    def nested():
        with ignoring_warnings(DeprecationWarning):
            done.append(read_image(tmp_path / "img.png").size)

    worker = threading.Thread(target=nested, daemon=True)  # a deadlock leaves it hanging, not the test run
    worker.start()
    worker.join(timeout=20)
    assert done == [(20, 20)]


def test_a_header_over_pillows_own_limit_is_refused_whatever_max_pixels_says(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_header_only(20000, 20000))
    with pytest.raises(ValueError, match="bomb.png: image is over the limit of 100000000 pixels; refused as a "
                                         "possible decompression bomb"):
        read_image(tmp_path / "bomb.png")
    limit = 2 * PILImage.MAX_IMAGE_PIXELS
    with pytest.raises(ValueError, match=rf"over the limit of {limit} pixels \(Pillow's: twice PIL.Image.MAX_IMAGE_PIXELS\)"):
        read_image(tmp_path / "bomb.png", max_pixels=10**9)


@pytest.mark.parametrize("alpha, quality, suffix, message", [
    (np.ones((4, 5), bool), 92, ".png", r"alpha must be \(H, W\) uint8 like rgb's \(4, 5\), got \(4, 5\) bool"),
    (np.full((4, 5), 0.5), 92, ".png", "alpha must be .* float64"),
    (np.zeros((3, 3), np.uint8), 92, ".png", r"got \(3, 3\) uint8"),
    (None, 101, ".jpg", "quality must be an integer in 1..100, got 101"),
    (None, "high", ".jpg", "quality must be an integer in 1..100, got 'high'"),
    (None, 0, ".webp", "quality must be an integer in 1..100, got 0"),
])
def test_write_image_checks_alpha_and_quality(tmp_path, alpha, quality, suffix, message):
    with pytest.raises(ValueError, match=message):
        write_image(tmp_path / f"x{suffix}", np.zeros((4, 5, 3), np.uint8), alpha, quality=quality)
    assert not list(tmp_path.iterdir())


def test_write_image_names_the_formats_size_limit(tmp_path):
    wide = np.zeros((1, 65501, 3), np.uint8)
    with pytest.raises(ValueError, match=r"x.jpg: 65501x1 pixels; .jpg pictures are at most 65500 pixels a side"):
        write_image(tmp_path / "x.jpg", wide)
    with pytest.raises(ValueError, match="at most 16383 pixels a side"):
        write_image(tmp_path / "x.webp", wide[:, :16384])
    assert read_image(write_image(tmp_path / "x.png", wide)).size == (1, 65501)


def test_resize_takes_gray_and_colour_arrays():
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    assert resize(gray, 3, 4).shape == (3, 4)
    assert resize(gray[..., None], 3, 4).shape == (3, 4, 1)
    np.testing.assert_array_equal(resize(gray[..., None], 3, 4)[..., 0], resize(gray, 3, 4))
    assert resize(np.dstack([gray] * 3), 12, 16).shape == (12, 16, 3)


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


def _matrix_rgb_profile(description, red, green, blue, gamma=2.2):
    """A minimal ICC v2 RGB matrix/TRC profile with the given D50 primaries (XYZ triples)."""
    import struct

    def s15(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(v):
        return b"XYZ " + bytes(4) + b"".join(s15(c) for c in v)

    text = description.encode() + b"\0"
    tags = {
        b"desc": b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67),
        b"wtpt": xyz((0.9642, 1.0, 0.8249)),
        b"rXYZ": xyz(red), b"gXYZ": xyz(green), b"bXYZ": xyz(blue),
    }
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    tags.update({b"rTRC": curve, b"gTRC": curve, b"bTRC": curve})
    table, data, offset = b"", b"", 128 + 4 + 12 * len(tags)
    for signature, body in tags.items():
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + bytes(12)
              + b"acsp" + bytes(24) + struct.pack(">I", 0) + xyz((0.9642, 1.0, 0.8249))[8:] + bytes(48))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def test_a_colour_profile_other_than_srgb_is_converted_to_srgb(tmp_path):
    red, green, blue = SRGB_D50
    swapped = _matrix_rgb_profile("red and green swapped", green, red, blue)  # its "red" is sRGB's green
    pixels = np.zeros((8, 8, 3), np.uint8)
    pixels[..., 0] = 220
    PILImage.fromarray(pixels).save(tmp_path / "tagged.png", icc_profile=swapped)
    PILImage.fromarray(pixels).save(tmp_path / "srgb.png", icc_profile=_matrix_rgb_profile("sRGB look-alike", *SRGB_D50))
    r, g, b = read_image(tmp_path / "tagged.png").rgb[4, 4].astype(int)
    assert g > 150 and r < 60 and b < 60  # shown as the profile means it: green
    np.testing.assert_array_equal(read_image(tmp_path / "srgb.png").rgb, pixels)  # an sRGB profile: untouched


def test_only_the_first_frame_of_an_animation_is_read_with_a_warning(tmp_path):
    frames = [PILImage.fromarray(np.full((6, 6, 3), v, np.uint8)) for v in (10, 200, 90)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    with pytest.warns(UserWarning, match=r"anim.png holds 3 frames .*only the first is used"):
        img = read_image(tmp_path / "anim.png")
    assert (img.rgb == 10).all()


def test_a_damaged_later_frame_does_not_stop_the_first_from_being_read(tmp_path):
    pages = [PILImage.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (10, 200, 90)]
    pages[0].save(tmp_path / "scan.tif", save_all=True, append_images=pages[1:])
    data = (tmp_path / "scan.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) * 2 // 3])  # the last page's header is gone
    with pytest.warns(UserWarning):  # Pillow: corrupt data in the cut page
        img = read_image(tmp_path / "cut.tif")  # counting its frames raised TypeError, which stopped a batch
    assert (img.rgb == 10).all()


def test_a_camera_jpeg_with_an_embedded_preview_does_not_warn(tmp_path, recwarn):
    photo = PILImage.fromarray(np.full((16, 16, 3), 80, np.uint8))
    photo.save(tmp_path / "x.jpg", "MPO", save_all=True, append_images=[photo])
    read_image(tmp_path / "x.jpg")
    assert not [w for w in recwarn if "frames" in str(w.message)]
