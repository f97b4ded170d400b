"""Glyphs: a labelled image dataset the project draws itself (deterministic, no fonts, no download).

Sixteen classes (:data:`CLASS_NAMES`): the digits 0-9, drawn as pen strokes from polyline and
arc definitions, and six geometric shapes (circle, square, triangle, star, cross, heart), drawn
as outlines or filled. Each picture gets a random affine transform (rotation, scale, shear,
translation), a smooth "handwriting" wobble, a stroke width, a foreground colour or gradient
against a background that is flat, a gradient, a smooth noise texture or stripes, occasional
clutter strokes and pixel noise.

- :func:`render_digit`: one white-on-black digit, float32 (size, size) in [0, 1] (MNIST-like at 28).
- :func:`make_glyphs`: N RGB pictures uint8 (N, H, W, 3) and their labels, deterministic per seed;
  picture ``i`` depends only on ``(seed, i)`` and ``size``, not on ``n``.
- :func:`sample_glyphs`: one clean picture per class, for demos.

Glyph geometry lives in a unit box (x to the right, y down, both in [0, 1]); strokes are drawn
with PIL at a supersampled resolution and reduced with an area filter, so thin strokes are
anti-aliased the same way on every machine.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

DIGIT_NAMES = tuple(str(d) for d in range(10))
SHAPE_NAMES = ("circle", "square", "triangle", "star", "cross", "heart")
CLASS_NAMES: tuple[str, ...] = DIGIT_NAMES + SHAPE_NAMES
NUM_CLASSES = len(CLASS_NAMES)
# Seed of the pictures :func:`sample_glyphs` draws (the training and held-out sets use others).
DEMO_SEED = 20240613

Points = np.ndarray  # (M, 2) float64, unit-box coordinates


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Points:
    """Points on an elliptic arc; angles in degrees, 0 = right, 90 = down (image coordinates)."""
    count = max(4, int(abs(end - start) / 8) + 1)
    t = np.radians(np.linspace(start, end, count))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _line(*points: tuple[float, float]) -> Points:
    return np.asarray(points, dtype=np.float64)


def _join(*parts: Points) -> Points:
    """One continuous stroke through several pieces (the pen does not lift between them)."""
    return np.concatenate(parts, axis=0)


# Each digit is a list of pen strokes (polylines). Proportions follow a handwritten digit about
# 0.55 wide and 0.84 tall in the unit box.
_DIGITS: tuple[list[Points], ...] = (
    [_arc(0.5, 0.5, 0.27, 0.42, 0, 360)],
    [_line((0.34, 0.24), (0.52, 0.08), (0.52, 0.92))],
    [_join(_arc(0.5, 0.3, 0.24, 0.21, 195, 395), _line((0.24, 0.92), (0.8, 0.92)))],
    [_join(_arc(0.49, 0.29, 0.22, 0.2, 205, 450), _arc(0.49, 0.7, 0.26, 0.22, -90, 160))],
    [_line((0.64, 0.92), (0.64, 0.08), (0.22, 0.64), (0.8, 0.64))],
    [_join(_line((0.76, 0.08), (0.33, 0.08), (0.29, 0.47)), _arc(0.5, 0.66, 0.26, 0.26, 220, 510))],
    [_join(_arc(0.76, 0.68, 0.49, 0.6, 238, 180), _arc(0.5, 0.68, 0.23, 0.23, 180, 540))],
    [_line((0.22, 0.08), (0.78, 0.08), (0.42, 0.92))],
    [_arc(0.5, 0.29, 0.19, 0.21, 0, 360), _arc(0.5, 0.71, 0.24, 0.21, -90, 270)],
    [_join(_arc(0.5, 0.32, 0.23, 0.23, 0, 360), _arc(0.25, 0.32, 0.48, 0.6, 0, 58))],
)


def _star(points: int = 5, outer: float = 0.48, inner: float = 0.2) -> Points:
    angles = np.radians(-90 + np.arange(2 * points) * 180 / points)
    radius = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([0.5 + radius * np.cos(angles), 0.53 + radius * np.sin(angles)], axis=1)


def _cross(arm: float = 0.15) -> Points:
    lo, hi = 0.5 - arm, 0.5 + arm
    return _line((lo, 0.05), (hi, 0.05), (hi, lo), (0.95, lo), (0.95, hi), (hi, hi), (hi, 0.95),
                 (lo, 0.95), (lo, hi), (0.05, hi), (0.05, lo), (lo, lo))


def _heart() -> Points:
    t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return np.stack([0.5 + x / 36, 0.47 + y / 36], axis=1)


# Each shape is one closed outline; it is drawn either as a stroke along it or filled.
_SHAPES: tuple[Points, ...] = (
    _arc(0.5, 0.5, 0.45, 0.45, 0, 360)[:-1],
    _line((0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)),
    _line((0.5, 0.07), (0.95, 0.87), (0.05, 0.87)),
    _star(),
    _cross(),
    _heart(),
)


def _wobble(points: Points, rng: np.random.Generator, amplitude: float) -> Points:
    """Smooth random displacement (two low-frequency waves per axis): the unsteady hand."""
    freq = rng.uniform(0.5, 1.6, (2, 2, 2))
    phase = rng.uniform(0, 2 * math.pi, (2, 2))
    amp = rng.uniform(-amplitude, amplitude, (2, 2))
    out = points.copy()
    for axis in range(2):
        for k in range(2):
            out[:, axis] += amp[axis, k] * np.sin(2 * math.pi * points @ freq[axis, k] + phase[axis, k])
    return out


def _random_affine(rng: np.random.Generator, rotation: float, shear: float, stretch: float) -> np.ndarray:
    """2x2 matrix: rotation (degrees, +-), shear, anisotropic scale (1 +- stretch)."""
    angle = math.radians(rng.uniform(-rotation, rotation))
    c, s = math.cos(angle), math.sin(angle)
    rotate = np.array([[c, -s], [s, c]])
    shear_matrix = np.array([[1.0, rng.uniform(-shear, shear)], [0.0, 1.0]])
    scale = np.diag(1.0 + rng.uniform(-stretch, stretch, 2))
    return rotate @ shear_matrix @ scale


def _supersampling(size: int) -> int:
    return max(2, math.ceil(112 / size))


def _pen_discs(points: Points, max_turn_degrees: float = 20.0) -> np.ndarray:
    """Indices of a polyline's end points and of the vertices where it turns by more than the limit."""
    seg = np.diff(points, axis=0)
    heading = np.arctan2(seg[:, 1], seg[:, 0])
    turn = np.abs((np.diff(heading) + math.pi) % (2 * math.pi) - math.pi)
    corners = np.flatnonzero(turn > math.radians(max_turn_degrees)) + 1
    return np.concatenate([[0, len(points) - 1], corners])


def _draw_mask(strokes: list[Points], fills: list[Points], size: int, width_px: float) -> np.ndarray:
    """Anti-aliased coverage (size, size) float32 in [0, 1] of strokes and filled polygons.

    Points are in output pixel coordinates (continuous, pixel centres at i + 0.5).
    """
    factor = _supersampling(size)
    big = size * factor
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(width_px * factor))
    radius = width / 2
    for polygon in fills:
        draw.polygon([tuple(p) for p in (polygon * factor).tolist()], fill=255)
    for stroke in strokes:
        pts = stroke * factor
        draw.line([tuple(p) for p in pts.tolist()], fill=255, width=width)
        # Round pen: discs at both ends and at sharp corners (gentle arc joints need none).
        for x, y in pts[_pen_discs(pts)].tolist():
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) * (1.0 / 255.0)


def _place(points: Points, matrix: np.ndarray, centre: np.ndarray, extent: float) -> Points:
    """Unit-box points -> pixel coordinates: centred, transformed, scaled to ``extent`` pixels."""
    return (points - 0.5) @ matrix.T * extent + centre


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 8:
        raise ValueError(f"size must be an integer >= 8, got {size!r}")


def render_digit(digit: int, size: int, rng: np.random.Generator, *, stroke: float | None = None,
                 affine: bool = True) -> np.ndarray:
    """Draws one digit as white pen strokes on black, MNIST-like: the glyph fills about 20/28 of the height.

    Args:
        digit: 0..9.
        size: output height and width in pixels (>= 8); 28 gives MNIST-sized digits.
        rng: source of all randomness (stroke width, affine, wobble); the same generator state
            gives the same picture.
        stroke: pen width as a fraction of ``size`` (e.g. 0.1 = 2.8 px at 28); None draws it from
            ``rng`` in [0.07, 0.13].
        affine: apply a random rotation (+-15 deg), shear, scale, translation and a smooth
            wobble; False draws the canonical glyph, centred.

    Returns:
        (size, size) float32 in [0, 1].

    Raises:
        ValueError: ``digit`` not in 0..9, ``size`` < 8 or ``stroke`` not in (0, 0.5].
    """
    if not isinstance(digit, (int, np.integer)) or isinstance(digit, bool) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer in 0..9, got {digit!r}")
    _check_size(size)
    if stroke is not None and not 0 < stroke <= 0.5:
        raise ValueError(f"stroke must be a fraction of size in (0, 0.5], got {stroke!r}")
    width = (stroke if stroke is not None else rng.uniform(0.07, 0.13)) * size
    strokes = list(_DIGITS[int(digit)])
    centre = np.array([size / 2, size / 2])
    extent = size * 20 / 28
    matrix = np.eye(2)
    if affine:
        strokes = [_wobble(s, rng, 0.03) for s in strokes]
        matrix = _random_affine(rng, rotation=15, shear=0.25, stretch=0.1) * rng.uniform(0.85, 1.05)
        centre = centre + rng.normal(0, 0.04 * size, 2)
    return _draw_mask([_place(s, matrix, centre, extent) for s in strokes], [], size, width)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background base colours (RGB in [0, 1]) at least ~0.35 apart in brightness."""
    light = rng.uniform(0.62, 1.0, 3) * rng.uniform(0.85, 1.0)
    dark = rng.uniform(0.0, 0.38, 3)
    # Saturate one of them a little so colour varies, not only brightness.
    if rng.random() < 0.5:
        light[rng.integers(3)] *= rng.uniform(0.3, 1.0)
    else:
        dark[rng.integers(3)] = rng.uniform(0.2, 0.55)
    return (light, dark) if rng.random() < 0.5 else (dark, light)


def _ramp(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) in [0, 1] rising along a random direction."""
    angle = rng.uniform(0, 2 * math.pi)
    coords = np.linspace(-0.5, 0.5, size)
    ramp = math.cos(angle) * coords[None, :] + math.sin(angle) * coords[:, None]
    return (ramp - ramp.min()) / (np.ptp(ramp) + 1e-9)


def _smooth_noise(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) in [0, 1]: a coarse random grid upsampled bilinearly (a cloudy texture)."""
    cells = int(rng.integers(3, 9))
    coarse = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(coarse.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0


def _stripes(size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) in [0, 1]: soft stripes or a checkerboard at a random angle and period."""
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(0.12, 0.35) * size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (math.cos(angle) * xs + math.sin(angle) * ys) * (2 * math.pi / period)
    wave = np.sin(u)
    if rng.random() < 0.4:
        wave = wave * np.sin((math.cos(angle) * ys - math.sin(angle) * xs) * (2 * math.pi / period))
    return 0.5 + 0.5 * wave


def _background(base: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) float32: ``base`` colour, flat or modulated by a gradient/texture/stripes."""
    kind = rng.integers(4)
    if kind == 0:
        return np.broadcast_to(base.astype(np.float32), (size, size, 3)).copy()
    pattern = (_ramp, _smooth_noise, _stripes)[kind - 1](size, rng).astype(np.float32)
    other = np.clip(base + rng.uniform(-0.25, 0.25, 3), 0, 1).astype(np.float32)
    return base.astype(np.float32) + (other - base.astype(np.float32)) * pattern[..., None]


def _foreground(base: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size, 3) or (3,) float32: the glyph's colour, flat or a gentle gradient."""
    if rng.random() < 0.7:
        return base.astype(np.float32)
    other = np.clip(base + rng.uniform(-0.2, 0.2, 3), 0, 1).astype(np.float32)
    return base.astype(np.float32) + (other - base.astype(np.float32)) * _ramp(size, rng)[..., None].astype(np.float32)


def _clutter(size: int, rng: np.random.Generator) -> np.ndarray:
    """Coverage (size, size) of one to three short thin strokes anywhere in the picture (distractors)."""
    strokes = []
    for _ in range(int(rng.integers(1, 4))):
        start = rng.uniform(0, size, 2)
        strokes.append(np.stack([start, start + rng.normal(0, 0.15 * size, 2)]))
    return _draw_mask(strokes, [], size, rng.uniform(0.02, 0.04) * size)


def _glyph_mask(label: int, size: int, rng: np.random.Generator, augment: bool) -> np.ndarray:
    """Coverage (size, size) of class ``label`` with a random pose (or the canonical one)."""
    if augment:
        extent = size * rng.uniform(0.5, 0.82)
        matrix = _random_affine(rng, rotation=20, shear=0.2, stretch=0.12)
        slack = max(0.0, (size - extent) / 2 - 1)
        centre = size / 2 + rng.uniform(-slack, slack, 2) * 0.8
        width = size * rng.uniform(0.05, 0.1)
    else:
        extent, matrix, centre, width = size * 0.72, np.eye(2), np.array([size / 2, size / 2]), size * 0.08
    if label < 10:
        strokes = [_wobble(s, rng, 0.025) if augment else s for s in _DIGITS[label]]
        return _draw_mask([_place(s, matrix, centre, extent) for s in strokes], [], size, width)
    outline = _place(_SHAPES[label - 10], matrix, centre, extent)
    if augment and rng.random() < 0.4:
        return _draw_mask([], [outline], size, width)
    return _draw_mask([np.concatenate([outline, outline[:2]])], [], size, width)


def _render_glyph(label: int, size: int, rng: np.random.Generator, augment: bool = True) -> np.ndarray:
    """One RGB picture (size, size, 3) uint8 of class ``label``."""
    fg_base, bg_base = _colour_pair(rng)
    if not augment:
        mask = _glyph_mask(label, size, rng, augment=False)[..., None]
        image = fg_base * mask + bg_base * (1 - mask)
        return (image * 255 + 0.5).astype(np.uint8)
    canvas = _background(bg_base, size, rng)
    if rng.random() < 0.3:
        clutter = _clutter(size, rng)[..., None] * rng.uniform(0.4, 0.9)
        canvas += (rng.uniform(0, 1, 3).astype(np.float32) - canvas) * clutter
    mask = _glyph_mask(label, size, rng, augment=True)[..., None]
    canvas += (_foreground(fg_base, size, rng) - canvas) * mask
    sigma = rng.uniform(0.0, 0.06)
    if sigma > 0.01:
        canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(sigma)
    return (np.clip(canvas, 0, 1) * 255 + 0.5).astype(np.uint8)


def make_glyphs(n: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` augmented glyph pictures and their labels.

    Picture ``i`` is drawn from its own generator seeded with ``(seed, i)``, so it is the same for
    every ``n`` > ``i``, and disjoint seeds give independent sets.

    Args:
        n: number of pictures (>= 0).
        size: height and width in pixels (>= 8).
        seed: non-negative integer.

    Returns:
        images (n, size, size, 3) uint8 RGB and labels (n,) int64 in [0, NUM_CLASSES).

    Raises:
        ValueError: negative ``n`` or ``seed``, ``size`` < 8.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _check_size(size)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        rng = np.random.default_rng((int(seed), i))
        labels[i] = rng.integers(NUM_CLASSES)
        images[i] = _render_glyph(int(labels[i]), size, rng)
    return images, labels


def sample_glyphs(n: int = NUM_CLASSES, size: int = 64, seed: int = DEMO_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Demo pictures: picture ``i`` shows class ``i % NUM_CLASSES`` (augmented, like the training data).

    Returns:
        images (n, size, size, 3) uint8 RGB and labels (n,) int64.

    Raises:
        ValueError: ``n`` < 1 or ``size`` < 8.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    _check_size(size)
    labels = np.arange(n, dtype=np.int64) % NUM_CLASSES
    images = np.stack([_render_glyph(int(label), size, np.random.default_rng((seed, i)))
                       for i, label in enumerate(labels)])
    return images, labels


__all__ = ["CLASS_NAMES", "DEMO_SEED", "NUM_CLASSES", "make_glyphs", "render_digit", "sample_glyphs"]
