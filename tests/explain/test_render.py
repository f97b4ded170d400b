"""pyfast.explain.render: colour maps, overlays, grids, panels and scatter plots."""

import numpy as np
import pytest

from pyfast.data.images import read_image
from pyfast.explain import render


def _picture(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _is_background(region, color=(255, 255, 255)):
    return bool(np.all(region == np.array(color, np.uint8)))


# ----------------------------------------------------------------------------- colour maps

@pytest.mark.parametrize("name", render.SEQUENTIAL_COLORMAPS)
def test_sequential_colormaps_rise_in_lightness(name):
    lightness = render.oklab_lightness(render.colormap(name))
    assert lightness[-1] - lightness[0] > 0.5
    # monotone up to uint8 rounding between neighbours, strictly over every 8 entries
    assert np.diff(lightness).min() > -2e-3
    assert np.all(np.diff(lightness[::8]) > 0)


def test_diverging_colormap_is_lightest_in_the_middle_and_blue_to_red():
    table = render.colormap("diverging")
    lightness = render.oklab_lightness(table)
    middle = len(table) // 2
    assert np.all(np.diff(lightness[:middle - 2]) > -2e-3) and np.all(np.diff(lightness[middle + 2:]) < 2e-3)
    assert lightness[middle] > 0.95
    assert table[0, 2] > table[0, 0] and table[-1, 0] > table[-1, 2]  # blue end, red end


def test_colorize_maps_range_ends_to_table_ends_and_clips():
    heat = np.array([[0.0, 0.5], [1.0, 2.0]])
    out = render.colorize(heat, "viridis", vmin=0.0, vmax=1.0)
    table = render.colormap("viridis")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert (out[0, 0] == table[0]).all() and (out[1, 0] == table[-1]).all() and (out[1, 1] == table[-1]).all()
    constant = render.colorize(np.full((3, 3), 7.0))
    assert (constant == render.colormap("inferno")[0]).all()


def test_categorical_colors_are_distinct():
    colors = render.categorical_colors(10)
    assert colors.shape == (10, 3) and len({tuple(c) for c in colors}) == 10


# ----------------------------------------------------------------------------- overlays

def test_overlay_without_decorations_is_the_blend():
    image, heat = _picture(), np.random.default_rng(1).random((40, 48))
    plain = render.heatmap_overlay(image, heat, colorbar=False, alpha=0.0)
    assert plain.shape == image.shape and plain.dtype == np.uint8 and (plain == image).all()
    full = render.heatmap_overlay(image, heat, colorbar=False, alpha=1.0)
    assert (full == render.colorize(heat)).all()


def test_overlay_colorbar_and_title_add_pixels():
    image, heat = _picture(64, 64), np.linspace(-1, 2, 64 * 64).reshape(64, 64)
    plain = render.heatmap_overlay(image, heat, colorbar=False)
    with_bar = render.heatmap_overlay(image, heat, colorbar=True)
    assert with_bar.shape[0] >= 64 and with_bar.shape[1] > 64 + 20
    # the colour bar holds the colour map's end colours, and tick labels (dark text) right of it
    right = with_bar[:, 64 + 4:]
    table = render.colormap("inferno")
    for end in (table[0], table[-1]):
        assert np.any(np.all(np.abs(right.astype(int) - end) <= 2, axis=-1))
    assert (right.sum(-1) < 100).sum() > 20
    titled = render.heatmap_overlay(image, heat, colorbar=False, title="saliency")
    band = titled[: titled.shape[0] - plain.shape[0]]
    assert titled.shape[0] > plain.shape[0] and not _is_background(band)
    other_title = render.heatmap_overlay(image, heat, colorbar=False, title="occlusion")
    assert not np.array_equal(titled, other_title)


def test_overlay_symmetric_uses_diverging_map_centred_on_zero():
    heat = np.array([[-1.0, 0.0], [0.5, 1.0]])
    out = render.heatmap_overlay(np.zeros((2, 2, 3), np.uint8), heat, symmetric=True, colorbar=False, alpha=1.0)
    table = render.colormap("diverging")
    assert (out[0, 0] == table[0]).all() and (out[1, 1] == table[-1]).all()
    assert np.abs(out[0, 1].astype(int) - table[128]).max() <= 2


def test_overlay_resizes_small_heat_and_scales():
    out = render.heatmap_overlay(_picture(32, 32), np.eye(4), colorbar=False, scale=3)
    assert out.shape == (96, 96, 3)


@pytest.mark.parametrize("kwargs, message", [
    (dict(heat=np.full((4, 4), np.nan)), "NaN"),
    (dict(alpha=1.5), "alpha"),
    (dict(cmap="jet"), "cmap"),
    (dict(vmin=2.0, vmax=1.0), "vmin"),
    (dict(heat=np.zeros((2, 2, 2))), "heat"),
    (dict(scale=0), "scale"),
])
def test_overlay_bad_input(kwargs, message):
    args = dict(image=_picture(8, 8), heat=np.zeros((8, 8)))
    args.update(kwargs)
    image, heat = args.pop("image"), args.pop("heat")
    with pytest.raises(ValueError, match=message):
        render.heatmap_overlay(image, heat, **args)


# ----------------------------------------------------------------------------- grids and panels

def test_image_grid_layout_and_float_normalisation():
    images = np.random.default_rng(0).random((5, 10, 12)) * 7 - 3
    grid = render.image_grid(images, ncols=2, pad=2)
    assert grid.dtype == np.uint8 and grid.shape == (3 * (10 + 2) + 2, 2 * (12 + 2) + 2, 3)
    first = grid[2:12, 2:14, 0]
    assert first.min() == 0 and first.max() == 255  # each float picture spans 0..255
    assert _is_background(grid[2 + 2 * 12:, 2 + 14:])  # the sixth cell is empty


def test_image_grid_accepts_uint8_rgb_and_lists_of_sizes():
    rgb = np.stack([_picture(10, 10, s) for s in range(3)])
    grid = render.image_grid(rgb, ncols=3, pad=0)
    assert (grid[:, :10] == rgb[0]).all() and (grid[:, 20:30] == rgb[2]).all()
    mixed = render.image_grid([_picture(8, 8), np.zeros((12, 6), np.uint8)], pad=1)
    assert mixed.shape == (12 + 2, 2 * (8 + 1) + 1, 3)


def test_image_grid_labels_draw_text():
    images = np.zeros((2, 30, 30), np.uint8) + 200
    plain = render.image_grid(images, ncols=2)
    labelled = render.image_grid(images, ncols=2, labels=["cat", "dog"])
    assert labelled.shape[0] > plain.shape[0]
    label_band = labelled[plain.shape[0] - 2:]
    assert (label_band.sum(-1) < 200).sum() > 10  # dark text on white


def test_labelled_panel_columns_and_rows():
    inputs = np.stack([_picture(16, 16, s) for s in range(3)])
    maps = np.random.default_rng(0).random((3, 16, 16))
    panel = render.labelled_panel([("input", inputs), ("saliency", maps), ("guided", maps * -1)],
                                  row_labels=["a", "b", "c"], cmap="inferno")
    assert panel.dtype == np.uint8 and panel.ndim == 3
    assert panel.shape[0] > 3 * 16 and panel.shape[1] > 3 * 16
    no_titles = render.labelled_panel([("", inputs), ("", maps)])
    assert no_titles.shape[0] < panel.shape[0]
    with pytest.raises(ValueError, match="same number"):
        render.labelled_panel([("a", inputs), ("b", maps[:2])])
    with pytest.raises(ValueError, match="row_labels"):
        render.labelled_panel([("a", inputs)], row_labels=["x"])


@pytest.mark.parametrize("images, message", [
    (np.zeros((0, 4, 4)), "empty"),
    ([], "empty"),
    (np.zeros((4, 4)), "images"),
    ([np.zeros((4, 4, 2))], r"images\[0\]"),
    ([np.full((4, 4), np.inf)], "infinite"),
])
def test_image_grid_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        render.image_grid(images)


def test_image_grid_bad_options():
    with pytest.raises(ValueError, match="ncols"):
        render.image_grid(np.zeros((2, 4, 4)), ncols=0)
    with pytest.raises(ValueError, match="labels"):
        render.image_grid(np.zeros((2, 4, 4)), labels=["one"])


# ----------------------------------------------------------------------------- scatter and save

def test_thumbnail_scatter_places_thumbnails_by_position():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    red = np.zeros((3, 8, 8, 3), np.uint8)
    red[..., 0] = 255
    out = render.thumbnail_scatter(points, red, size=128, thumb_size=16)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    is_red = (out[..., 0] == 255) & (out[..., 1] == 0)
    assert is_red[100:, :30].any() and is_red[:30, 100:].any() and is_red[100:, 100:].any()  # y points up
    assert not is_red[:30, :30].any()


def test_thumbnail_scatter_labels_frame_by_category():
    points = np.random.default_rng(0).random((6, 2))
    thumbs = np.full((6, 8, 8), 128, np.uint8)
    plain = render.thumbnail_scatter(points, thumbs, size=256)
    framed = render.thumbnail_scatter(points, thumbs, size=256, labels=[0, 1, 0, 1, 2, 2])
    for color in render.categorical_colors(3):
        assert np.all(framed == color, axis=-1).any()
        assert not np.all(plain == color, axis=-1).any()
    with pytest.raises(ValueError, match="one picture per point"):
        render.thumbnail_scatter(points, thumbs[:5])
    with pytest.raises(ValueError, match="points"):
        render.thumbnail_scatter(points[:, :1], thumbs)


def test_save_round_trips(tmp_path):
    image = render.image_grid(np.random.default_rng(0).random((4, 9, 9)))
    path = render.save(tmp_path / "grid.png", image)
    assert (read_image(path).rgb == image).all()
    gray = render.save(tmp_path / "gray.png", np.zeros((5, 6), np.uint8))
    assert read_image(gray).rgb.shape == (5, 6, 3)
    with pytest.raises(ValueError, match="uint8"):
        render.save(tmp_path / "bad.png", np.zeros((5, 6, 3)))
