"""Pictures of explanation results: colour maps, heatmap overlays, grids, labelled panels, scatter plots.

Every function returns a uint8 RGB array (H, W, 3) ready for :func:`save` (PNG, JPEG, ...).
Only numpy and Pillow are used; text is drawn with Pillow's built-in font.

Colour maps are pyfast's own: a few anchor colours given in OKLCh (lightness, chroma, hue),
interpolated linearly in the OKLab space and brought into the sRGB gamut by lowering chroma
at constant lightness. The sequential maps therefore rise monotonically in perceived
lightness; ``"diverging"`` runs blue - white - red with its lightest point in the middle.

- :func:`colorize` maps values to colours, :func:`colormap` gives a map's 256-entry table.
- :func:`heatmap_overlay` blends a heatmap over a picture, with a colour bar and a title.
- :func:`image_grid` tiles pictures (uint8 or float, normalised per picture) with labels.
- :func:`labelled_panel` puts titled columns side by side, one row per input.
- :func:`thumbnail_scatter` draws a 2-D embedding as thumbnails, framed by category.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Sequence
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from .._checks import check_int
from ..data.images import write_image

Color = tuple[int, int, int]
WHITE: Color = (255, 255, 255)

# Anchors per map: (lightness 0..1, chroma, hue in degrees), evenly spaced along the map.
_ANCHORS: dict[str, list[tuple[float, float, float]]] = {
    # black - purple - red - orange - pale yellow
    "inferno": [(0.12, 0.05, 290), (0.32, 0.15, 318), (0.52, 0.19, 20), (0.70, 0.18, 50), (0.85, 0.16, 78), (0.97, 0.10, 105)],
    # deep blue-violet - blue - teal - green - yellow
    "viridis": [(0.30, 0.11, 300), (0.45, 0.10, 258), (0.60, 0.10, 200), (0.75, 0.15, 145), (0.92, 0.18, 108)],
    # near black - white (OKLab's darkest tenth collapses onto a few uint8 levels, so it starts above it)
    "gray": [(0.1, 0.0, 0), (1.0, 0.0, 0)],
    # blue - white - red, for signed values centred on 0
    "diverging": [(0.42, 0.17, 262), (0.70, 0.09, 255), (0.98, 0.0, 0), (0.70, 0.10, 30), (0.50, 0.18, 28)],
}
SEQUENTIAL_COLORMAPS = ("inferno", "viridis", "gray")
LUT_SIZE = 256


# --------------------------------------------------------------------------- colour science

def _srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _oklab_to_linear_rgb(lab: np.ndarray) -> np.ndarray:
    """OKLab (..., 3) -> linear sRGB (..., 3), unclipped."""
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    l_ = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3
    m_ = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3
    s_ = (L - 0.0894841775 * a - 1.2914855480 * b) ** 3
    return np.stack([4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
                     -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
                     -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_], axis=-1)


def oklab_lightness(rgb: np.ndarray) -> np.ndarray:
    """Perceived lightness L (OKLab, 0..1) of uint8 sRGB colours (..., 3)."""
    lin = _srgb_to_linear(np.asarray(rgb, dtype=np.float64) / 255.0)
    lms = lin @ np.array([[0.4122214708, 0.2119034982, 0.0883024619],
                          [0.5363325363, 0.6806995451, 0.2817188376],
                          [0.0514459929, 0.1073969566, 0.6299787005]])
    lms = np.cbrt(lms)
    return lms @ np.array([0.2104542553, 0.7936177850, -0.0040720468])


def _in_gamut(lab: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    rgb = _oklab_to_linear_rgb(lab)
    return np.all((rgb >= -tol) & (rgb <= 1 + tol), axis=-1)


def _oklab_to_srgb8(lab: np.ndarray) -> np.ndarray:
    """OKLab (n, 3) -> uint8 sRGB (n, 3); out-of-gamut colours lose chroma, keeping lightness and hue."""
    lab = np.array(lab, dtype=np.float64)
    lo, hi = np.zeros(len(lab)), np.ones(len(lab))
    fits = _in_gamut(lab)
    hi[fits] = lo[fits] = 1.0
    for _ in range(40):  # bisection on the chroma scale of the colours that do not fit
        mid = (lo + hi) / 2
        ok = _in_gamut(np.concatenate([lab[:, :1], lab[:, 1:] * mid[:, None]], axis=1))
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    lab[:, 1:] *= lo[:, None]
    return np.round(_linear_to_srgb(_oklab_to_linear_rgb(lab)) * 255).astype(np.uint8)


def _lch_to_lab(lch: np.ndarray) -> np.ndarray:
    h = np.deg2rad(lch[:, 2])
    return np.stack([lch[:, 0], lch[:, 1] * np.cos(h), lch[:, 1] * np.sin(h)], axis=1)


def list_colormaps() -> list[str]:
    """Names accepted as ``cmap``."""
    return sorted(_ANCHORS)


@cache
def _table(name: str) -> np.ndarray:
    anchors = _lch_to_lab(np.array(_ANCHORS[name], dtype=np.float64))
    pos = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, LUT_SIZE)
    lab = np.stack([np.interp(t, pos, anchors[:, i]) for i in range(3)], axis=1)
    table = _oklab_to_srgb8(lab)
    table.flags.writeable = False
    return table


def colormap(name: str) -> np.ndarray:
    """The colour table of map ``name``: (256, 3) uint8, low values first.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    if name not in _ANCHORS:
        raise ValueError(f"cmap must be one of {', '.join(list_colormaps())}, got {name!r}")
    return _table(name).copy()


def categorical_colors(n: int) -> np.ndarray:
    """``n`` distinguishable colours, (n, 3) uint8: hues spread by the golden angle, lightness cycling
    through three levels so that neighbours in hue still differ."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    hues = (30.0 + 137.508 * np.arange(n)) % 360.0
    lightness = np.array([0.62, 0.45, 0.80])[np.arange(n) % 3]
    lch = np.stack([lightness, np.full(n, 0.16), hues], axis=1)
    return _oklab_to_srgb8(_lch_to_lab(lch)) if n else np.zeros((0, 3), np.uint8)


# --------------------------------------------------------------------------- values -> colours

def _finite_array(values, name: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def value_range(heat, vmin: float | None = None, vmax: float | None = None,
                symmetric: bool = False) -> tuple[float, float]:
    """The (vmin, vmax) that :func:`colorize` uses: the data's range, or ``±max|heat|`` when ``symmetric``."""
    arr = _finite_array(heat, "heat")
    if symmetric:
        m = float(np.abs(arr).max())
        lo, hi = -m, m
    else:
        lo, hi = float(arr.min()), float(arr.max())
    lo = lo if vmin is None else float(vmin)
    hi = hi if vmax is None else float(vmax)
    if lo > hi:
        raise ValueError(f"vmin must not exceed vmax, got vmin={lo} and vmax={hi}")
    return lo, hi


def colorize(heat, cmap: str = "inferno", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Maps values to colours.

    Args:
        heat: array of any shape (...), e.g. a heatmap (H, W); finite.
        cmap: a name from :func:`list_colormaps`.
        vmin, vmax: values drawn with the first / last colour (default: the data's min / max);
            values outside are clipped. When vmin == vmax everything gets the first colour.

    Returns:
        (..., 3) uint8 RGB.

    Raises:
        ValueError: unknown ``cmap``, empty or non-finite ``heat``, ``vmin > vmax``.
    """
    table = colormap(cmap)
    arr = _finite_array(heat, "heat")
    lo, hi = value_range(arr, vmin, vmax)
    span = hi - lo
    t = np.zeros_like(arr) if span <= 0 else np.clip((arr - lo) / span, 0.0, 1.0)
    return table[np.round(t * (LUT_SIZE - 1)).astype(np.intp)]


# --------------------------------------------------------------------------- text

@lru_cache(maxsize=32)
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable font, Pillow >= 10.1
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()  # fixed bitmap font on older Pillow / without FreeType


def _font_size(height: int, width: int) -> int:
    """Text size for a picture of this size: readable, never huge."""
    return int(np.clip(round(max(height, width) / 22), 11, 32))


def _text_size(text: str, font) -> tuple[int, int]:
    from PIL import Image as PILImage
    from PIL import ImageDraw

    left, _, right, bottom = ImageDraw.Draw(PILImage.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    return right - left, bottom


def _fit_text(text: str, font, width: int) -> str:
    """``text`` shortened with an ellipsis so that it is at most ``width`` pixels wide."""
    if _text_size(text, font)[0] <= width:
        return text
    while text and _text_size(text + "…", font)[0] > width:
        text = text[:-1]
    return text + "…" if text else ""


def _ink(background: Color) -> Color:
    """Black text on light backgrounds, white on dark ones."""
    return (0, 0, 0) if oklab_lightness(np.array(background, np.uint8)) > 0.6 else WHITE


def _check_color(color, name: str) -> Color:
    c = tuple(int(v) for v in np.broadcast_to(np.asarray(color), (3,)))
    if any(not 0 <= v <= 255 for v in c):
        raise ValueError(f"{name} must be an RGB triple of 0..255 values, got {color!r}")
    return c


# --------------------------------------------------------------------------- pictures in

def _to_rgb8(image, name: str, cmap: str | None, normalize: bool) -> np.ndarray:
    """One picture (H, W), (H, W, 1) or (H, W, 3) of any numeric dtype -> (H, W, 3) uint8."""
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3) or min(arr.shape) < 1:
        raise ValueError(f"{name} must be (H, W), (H, W, 1) or (H, W, 3), got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else np.ascontiguousarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
        return np.repeat(arr[:, :, None], 3, axis=2) if arr.ndim == 2 else arr
    values = _finite_array(arr, name)
    if arr.ndim == 2 and cmap is not None:
        return colorize(values, cmap, *((None, None) if normalize else (0.0, 1.0)))
    if normalize:
        lo, hi = values.min(), values.max()
        values = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    rgb = np.round(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    return np.repeat(rgb[:, :, None], 3, axis=2) if rgb.ndim == 2 else rgb


def as_rgb8_list(images, *, cmap: str | None = None, normalize: bool = True, name: str = "images") -> list[np.ndarray]:
    """Pictures as a list of (H, W, 3) uint8 arrays.

    Args:
        images: an array (N, H, W, 3), (N, H, W, 1) or (N, H, W) (a 3-D array is N single-channel
            pictures), or a sequence of (H, W[, 1 or 3]) arrays of possibly different sizes.
            uint8 is used as it is; other dtypes are scaled per picture from their min..max to
            0..255 (``normalize=True``) or clipped from 0..1 (``normalize=False``).
        cmap: colour map for single-channel non-uint8 pictures (default: gray).

    Raises:
        ValueError: no pictures, wrong shapes, non-finite values, unknown ``cmap``.
    """
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"{name} must be (N, H, W), (N, H, W, 1), (N, H, W, 3) or a list of pictures, got shape {images.shape}")
        images = list(images)
    elif not isinstance(images, Sequence) or isinstance(images, (str, bytes)):
        raise ValueError(f"{name} must be an array or a sequence of pictures, got {type(images).__name__}")
    if len(images) == 0:
        raise ValueError(f"{name} is empty: no pictures given")
    return [_to_rgb8(im, f"{name}[{i}]", cmap, normalize) for i, im in enumerate(images)]


def _enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    return image if scale == 1 else np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def _resize_float(values: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image as PILImage

    if values.shape == (height, width):
        return values
    im = PILImage.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(im.resize((width, height), PILImage.Resampling.BILINEAR), dtype=np.float64)


def _resize_rgb8(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image as PILImage

    if image.shape[:2] == (height, width):
        return image
    enlarging = height >= 2 * image.shape[0]
    method = PILImage.Resampling.NEAREST if enlarging else PILImage.Resampling.LANCZOS
    return np.asarray(PILImage.fromarray(image).resize((width, height), method))


# --------------------------------------------------------------------------- layouts

def _canvas(height: int, width: int, background: Color):
    from PIL import Image as PILImage

    return PILImage.new("RGB", (width, height), background)


def _paste_centered(canvas, image: np.ndarray, top: int, left: int, height: int, width: int) -> None:
    from PIL import Image as PILImage

    h, w = image.shape[:2]
    canvas.paste(PILImage.fromarray(image), (left + (width - w) // 2, top + (height - h) // 2))


def _table_layout(cells: list[list[np.ndarray | None]], *, pad: int, background: Color,
                  column_titles: Sequence[str] | None = None, row_titles: Sequence[str] | None = None,
                  cell_labels: list[list[str | None]] | None = None) -> np.ndarray:
    """Draws a table of pictures: equal cells, optional column titles on top, row titles on the left,
    and a label under each cell."""
    from PIL import ImageDraw

    rows, cols = len(cells), max(len(r) for r in cells)
    pictures = [im for row in cells for im in row if im is not None]
    cell_h = max(im.shape[0] for im in pictures)
    cell_w = max(im.shape[1] for im in pictures)
    size = _font_size(cell_h, cell_w)
    font = _font(size)
    line = int(size * 1.4)
    label_h = line if cell_labels and any(lbl for row in cell_labels for lbl in row) else 0
    title_h = line + pad if column_titles and any(column_titles) else 0
    row_w = 0
    if row_titles and any(row_titles):
        row_w = min(max(_text_size(str(t), font)[0] for t in row_titles) + 2 * pad, 4 * cell_w)
    step_y, step_x = cell_h + label_h + pad, cell_w + pad
    canvas = _canvas(title_h + rows * step_y + pad, row_w + cols * step_x + pad, background)
    draw = ImageDraw.Draw(canvas)
    ink = _ink(background)

    def text_centered(text: str, left: int, top: int, width: int) -> None:
        text = _fit_text(str(text), font, width)
        draw.text((left + (width - _text_size(text, font)[0]) // 2, top), text, fill=ink, font=font)

    for c in range(cols):
        if title_h and c < len(column_titles) and column_titles[c]:
            text_centered(column_titles[c], row_w + pad + c * step_x, pad, cell_w)
    for r, row in enumerate(cells):
        top = title_h + pad + r * step_y
        if row_w and row_titles[r]:
            text = _fit_text(str(row_titles[r]), font, row_w - pad)
            draw.text((pad, top + (cell_h - size) // 2), text, fill=ink, font=font)
        for c, image in enumerate(row):
            left = row_w + pad + c * step_x
            if image is not None:
                _paste_centered(canvas, image, top, left, cell_h, cell_w)
            if label_h and cell_labels[r][c]:
                text_centered(cell_labels[r][c], left, top + cell_h + max(1, (line - size) // 3), cell_w)
    return np.asarray(canvas).copy()


def image_grid(images, *, ncols: int | None = None, labels: Sequence[str] | None = None, pad: int = 2,
               background: Color = WHITE, cmap: str | None = None, normalize: bool = True,
               scale: int = 1) -> np.ndarray:
    """Tiles pictures in rows of ``ncols``, each optionally labelled underneath.

    Args:
        images: N pictures, see :func:`as_rgb8_list` (uint8 used as is; float normalised per picture).
        ncols: pictures per row (default: ceil(sqrt(N))).
        labels: one text per picture (None or "" for none), drawn under it.
        pad: pixels between and around cells.
        background: RGB colour of the gaps.
        cmap: colour map for single-channel float pictures (default gray).
        normalize: scale float pictures per picture from min..max (else clip 0..1).
        scale: integer enlargement (nearest neighbour) of every picture, e.g. 4 for 32×32 inputs.

    Returns:
        (H, W, 3) uint8.

    Raises:
        ValueError: no pictures, bad shapes, ``ncols``/``scale`` < 1, ``pad`` < 0, wrong number of labels.
    """
    pictures = [_enlarge(im, check_int(scale, "scale"))
                for im in as_rgb8_list(images, cmap=cmap, normalize=normalize)]
    n = len(pictures)
    ncols = math.ceil(math.sqrt(n)) if ncols is None else min(check_int(ncols, "ncols"), n)
    check_int(pad, "pad", minimum=0)
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per picture ({n}), got {len(labels)}")
    rows = [pictures[i:i + ncols] for i in range(0, n, ncols)]
    cell_labels = None
    if labels is not None:
        cell_labels = [[lbl if lbl is None else str(lbl) for lbl in labels[i:i + ncols]] for i in range(0, n, ncols)]
    return _table_layout(rows, pad=pad, background=_check_color(background, "background"), cell_labels=cell_labels)


def labelled_panel(columns: Sequence[tuple[str, object]], *, row_labels: Sequence[str] | None = None,
                   pad: int = 4, background: Color = WHITE, cmap: str | None = None, normalize: bool = True,
                   scale: int = 1, fit: bool = True) -> np.ndarray:
    """Titled columns side by side, one row per input: e.g. input | saliency | guided backprop.

    Args:
        columns: (title, images) pairs; every ``images`` (see :func:`as_rgb8_list`) holds the same
            number N of pictures. Uint8 pictures are used as they are, float ones normalised per picture.
        row_labels: N texts drawn left of the rows (e.g. class names).
        pad, background, cmap, normalize, scale: as in :func:`image_grid`.
        fit: resize every picture to the largest one's size (e.g. a layer's 16×16 map next to its
            64×64 input); otherwise smaller pictures are centred in their cell.

    Returns:
        (H, W, 3) uint8.

    Raises:
        ValueError: no columns, columns of different lengths, bad pictures, wrong number of row labels.
    """
    if not isinstance(columns, Sequence) or len(columns) == 0:
        raise ValueError("columns must be a non-empty sequence of (title, images) pairs")
    titles, stacks = [], []
    for i, column in enumerate(columns):
        if not isinstance(column, (tuple, list)) or len(column) != 2:
            raise ValueError(f"columns[{i}] must be a (title, images) pair, got {type(column).__name__}")
        title, images = column
        titles.append(str(title))
        stacks.append([_enlarge(im, check_int(scale, "scale"))
                       for im in as_rgb8_list(images, cmap=cmap, normalize=normalize, name=f"columns[{i}] images")])
    lengths = {len(s) for s in stacks}
    if len(lengths) != 1:
        raise ValueError(f"every column must hold the same number of pictures, got {[len(s) for s in stacks]}")
    n = lengths.pop()
    if row_labels is not None and len(row_labels) != n:
        raise ValueError(f"row_labels must have one entry per row ({n}), got {len(row_labels)}")
    check_int(pad, "pad", minimum=0)
    if fit:
        height = max(im.shape[0] for stack in stacks for im in stack)
        width = max(im.shape[1] for stack in stacks for im in stack)
        stacks = [[_resize_rgb8(im, height, width) for im in stack] for stack in stacks]
    rows = [[stack[r] for stack in stacks] for r in range(n)]
    return _table_layout(rows, pad=pad, background=_check_color(background, "background"), column_titles=titles,
                         row_titles=None if row_labels is None else [str(t) for t in row_labels])


def _colorbar(lo: float, hi: float, cmap: str, height: int, font, size: int, ink: Color, background: Color,
              mid: bool) -> np.ndarray:
    """A vertical colour bar (high values on top) with tick labels at its ends (and its middle)."""
    from PIL import ImageDraw

    bar_w = max(8, size)
    gap = max(3, size // 3)
    labels = [(0.0, hi), (1.0, lo)] + ([(0.5, (lo + hi) / 2)] if mid else [])
    texts = [(frac, f"{value:.3g}") for frac, value in labels]
    text_w = max(_text_size(t, font)[0] for _, t in texts)
    margin = size // 2 + 1  # room above and below for the end labels
    bar_h = max(height - 2 * margin, 2)
    canvas = _canvas(height, bar_w + gap + 4 + text_w + gap, background)
    ramp = colorize(np.linspace(hi, lo, bar_h)[:, None].repeat(bar_w, axis=1), cmap, lo, hi)
    _paste_centered(canvas, ramp, margin, 0, bar_h, bar_w)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([0, margin - 1, bar_w - 1, margin + bar_h], outline=ink)
    for frac, text in texts:
        y = margin + round(frac * (bar_h - 1))
        draw.line([bar_w, y, bar_w + gap, y], fill=ink)
        draw.text((bar_w + gap + 4, y - size // 2 - size // 8), text, fill=ink, font=font)
    return np.asarray(canvas)


def heatmap_overlay(image, heat, *, cmap: str | None = None, alpha: float = 0.5, symmetric: bool = False,
                    vmin: float | None = None, vmax: float | None = None, colorbar: bool = True,
                    title: str | None = None, scale: int = 1, background: Color = WHITE) -> np.ndarray:
    """Blends a coloured heatmap over a picture, with an optional colour bar and title.

    Args:
        image: the picture, uint8 (H, W, 3) or (H, W) (other dtypes: see :func:`as_rgb8_list`).
        heat: (h, w) finite values; resized (bilinear) to (H, W) when its size differs.
        cmap: colour map name (default "inferno", or "diverging" when ``symmetric``).
        alpha: weight of the heatmap colour, 0 (picture only) .. 1 (heatmap only).
        symmetric: centre the colour range on 0 (``±max|heat|``) for signed attributions.
        vmin, vmax: explicit colour range (override the data's range).
        colorbar: draw a colour bar with min / max tick labels on the right.
        title: text drawn above the picture.
        scale: integer enlargement (nearest neighbour) of the picture before drawing.
        background: colour around the picture.

    Returns:
        (H', W', 3) uint8: (H*scale, W*scale) without colour bar or title, larger with them.

    Raises:
        ValueError: bad shapes, non-finite ``heat``, ``alpha`` outside 0..1, unknown ``cmap``, ``vmin > vmax``.
    """
    picture = _to_rgb8(image, "image", None, True)
    heat = _finite_array(heat, "heat")
    if heat.ndim != 2:
        raise ValueError(f"heat must be (H, W), got shape {heat.shape}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    cmap = cmap or ("diverging" if symmetric else "inferno")
    background = _check_color(background, "background")
    lo, hi = value_range(heat, vmin, vmax, symmetric)
    scale = check_int(scale, "scale")
    picture = _enlarge(picture, scale)
    height, width = picture.shape[:2]
    colors = colorize(_resize_float(heat, height, width), cmap, lo, hi)
    blend = np.round((1 - alpha) * picture.astype(np.float64) + alpha * colors).astype(np.uint8)
    if not colorbar and title is None:
        return blend
    size = _font_size(height, width)
    font = _font(size)
    ink = _ink(background)
    pad = max(4, size // 2)
    parts = [blend]
    if colorbar:
        bar = _colorbar(lo, hi, cmap, max(height, 5 * size), font, size, ink, background,
                        mid=symmetric or (lo < 0 < hi))
        parts.append(bar)
    body_h = max(p.shape[0] for p in parts)
    body_w = sum(p.shape[1] for p in parts) + pad * (len(parts) - 1)
    title_h = int(size * 1.6) if title else 0
    canvas = _canvas(title_h + body_h + 2 * pad, body_w + 2 * pad, background)
    left = pad
    for part in parts:
        _paste_centered(canvas, part, title_h + pad, left, body_h, part.shape[1])
        left += part.shape[1] + pad
    if title:
        from PIL import ImageDraw

        text = _fit_text(title, font, canvas.width - 2 * pad)
        text_w = _text_size(text, font)[0]
        left = pad + (width - text_w) // 2 if text_w <= width else pad  # centred over the picture when it fits
        ImageDraw.Draw(canvas).text((left, pad), text, fill=ink, font=font)
    return np.asarray(canvas).copy()


def thumbnail_scatter(points, thumbs, *, size: int = 1024, thumb_size: int | None = None,
                      labels: Sequence[Hashable] | None = None, background: Color = WHITE,
                      legend: bool = True) -> np.ndarray:
    """Draws a 2-D embedding: each point's thumbnail placed at its position (y up), framed by its label.

    Args:
        points: (N, 2) finite coordinates (x, y), e.g. from :func:`pyfast.explain.activations.embed_2d`.
        thumbs: N pictures (see :func:`as_rgb8_list`), resized so that their longer side is ``thumb_size``.
        size: width and height of the picture in pixels.
        thumb_size: thumbnail size in pixels (default ``size // 16``).
        labels: one category per point (class index or name); each category gets a frame colour,
            listed in a legend along the right edge when ``legend`` (the points then use the rest).
        background: RGB colour of the canvas.

    Returns:
        (size, size, 3) uint8.

    Raises:
        ValueError: bad shapes, different N, non-finite points, ``size`` too small for the thumbnails.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    pts = _finite_array(points, "points")
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got shape {pts.shape}")
    pictures = as_rgb8_list(thumbs, name="thumbs")
    n = len(pts)
    if len(pictures) != n:
        raise ValueError(f"thumbs must have one picture per point ({n}), got {len(pictures)}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per point ({n}), got {len(labels)}")
    size = check_int(size, "size", minimum=32)
    thumb_size = max(4, size // 16) if thumb_size is None else check_int(thumb_size, "thumb_size", minimum=2)
    if thumb_size * 2 > size:
        raise ValueError(f"thumb_size ({thumb_size}) must be at most half of size ({size})")
    background = _check_color(background, "background")
    frame = max(2, thumb_size // 16) if labels is not None else 0
    box = thumb_size + 2 * frame
    margin = 4
    categories: list[Hashable] = []
    if labels is not None:
        for lbl in labels:
            if lbl not in categories:
                categories.append(lbl)
    palette = categorical_colors(len(categories))
    legend_texts: list[str] = []
    legend_w = 0
    if categories and legend:
        font_px = int(np.clip(size // 48, 11, 24))
        font = _font(font_px)
        line = int(font_px * 1.4)
        legend_texts = [str(c) for c in categories[:20]] + ([f"+{len(categories) - 20} more"] if len(categories) > 20 else [])
        legend_w = min(max(_text_size(t, font)[0] for t in legend_texts) + line + 12, size // 3)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    unit = (pts - lo) / span
    unit[:, hi <= lo] = 0.5  # a constant coordinate is centred
    room_x = size - box - 2 * margin - (legend_w + margin if legend_w else 0)  # the legend keeps the right edge
    room_y = size - box - 2 * margin
    lefts = np.round(margin + unit[:, 0] * room_x).astype(int)
    tops = np.round(margin + (1 - unit[:, 1]) * room_y).astype(int)

    canvas = _canvas(size, size, background)
    draw = ImageDraw.Draw(canvas)
    for i, picture in enumerate(pictures):
        h, w = picture.shape[:2]
        th, tw = (thumb_size, max(1, round(w * thumb_size / h))) if h >= w else (max(1, round(h * thumb_size / w)), thumb_size)
        thumb = _resize_rgb8(picture, th, tw)
        left, top = int(lefts[i]) + (box - tw) // 2, int(tops[i]) + (box - th) // 2
        if labels is not None:
            color = tuple(int(v) for v in palette[categories.index(labels[i])])
            draw.rectangle([left - frame, top - frame, left + tw + frame - 1, top + th + frame - 1], fill=color)
        canvas.paste(PILImage.fromarray(thumb), (left, top))
    if legend_texts:
        ink = _ink(background)
        x0 = size - margin - legend_w
        draw.rectangle([x0, margin, size - margin, margin + line * len(legend_texts) + 8], fill=background, outline=ink)
        for j, text in enumerate(legend_texts):
            y = margin + 4 + j * line
            if j < min(len(palette), 20):
                draw.rectangle([x0 + 4, y + 2, x0 + line - 2, y + line - 4], fill=tuple(int(v) for v in palette[j]))
            draw.text((x0 + line + 4, y + (line - font_px) // 2 - 1), _fit_text(text, font, legend_w - line - 8),
                      fill=ink, font=font)
    return np.asarray(canvas).copy()


def save(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Writes a rendered picture ((H, W, 3) or (H, W) uint8) to ``path``; the format follows the extension.

    Raises:
        ValueError: not a uint8 picture, or an unsupported extension.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"image must be uint8 (H, W, 3) or (H, W), got {arr.dtype} {arr.shape}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return write_image(path, np.ascontiguousarray(arr))


__all__ = ["SEQUENTIAL_COLORMAPS", "as_rgb8_list", "categorical_colors", "colorize", "colormap", "heatmap_overlay",
           "image_grid", "labelled_panel", "list_colormaps", "oklab_lightness", "save", "thumbnail_scatter",
           "value_range"]
