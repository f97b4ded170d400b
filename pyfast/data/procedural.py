"""Style images the project paints itself (deterministic, no download).

* ``mosaic``: stained glass — Voronoi cells in saturated jewel colours, each
  with a soft internal gradient, separated by dark lead lines.
* ``starry``: swirling brush strokes — thousands of short strokes following a
  smooth rotational flow field, in a night-blue and golden palette.
"""

from __future__ import annotations

import numpy as np

MOSAIC_PALETTE = np.array(
    [[22, 66, 170], [200, 30, 45], [240, 180, 30], [25, 140, 80], [120, 40, 150],
     [240, 110, 20], [30, 160, 200], [235, 225, 200]], dtype=np.float32)
STARRY_PALETTE = np.array(
    [[14, 32, 90], [28, 62, 140], [60, 110, 190], [120, 170, 220], [235, 200, 70],
     [250, 230, 140], [20, 40, 60], [200, 120, 40]], dtype=np.float32)


def mosaic(size: int = 512, cells: int = 14, seed: int = 0) -> np.ndarray:
    """Stained-glass mosaic, (size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    step = size / cells
    gy, gx = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
    seeds = np.stack([(gy + rng.uniform(0.1, 0.9, gy.shape)) * step, (gx + rng.uniform(0.1, 0.9, gx.shape)) * step], -1)
    colours = MOSAIC_PALETTE[rng.integers(0, len(MOSAIC_PALETTE), (cells, cells))]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = (ys // step).astype(int), (xs // step).astype(int)
    best = np.full((size, size), np.inf, np.float32)
    second = np.full((size, size), np.inf, np.float32)
    owner = np.zeros((size, size, 2), int)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            ny, nx = cy + dy, cx + dx
            inside = (ny >= 0) & (ny < cells) & (nx >= 0) & (nx < cells)
            ny, nx = np.clip(ny, 0, cells - 1), np.clip(nx, 0, cells - 1)
            s = seeds[ny, nx]
            d = np.where(inside, np.hypot(ys - s[..., 0], xs - s[..., 1]), np.inf)
            closer = d < best
            second = np.where(closer, best, np.minimum(second, d))
            owner = np.where(closer[..., None], np.stack([ny, nx], -1), owner)
            best = np.where(closer, d, best)
    base = colours[owner[..., 0], owner[..., 1]]
    # Light falls from the top-left of each pane; a little grain for glass texture.
    shade = 1.15 - 0.35 * np.clip(best / step, 0, 1)[..., None]
    grain = rng.normal(1.0, 0.06, (size, size, 1)).astype(np.float32)
    img = base * shade * grain
    lead = np.clip((second - best) / 3.0, 0, 1)[..., None]  # 0 on the borders
    img = img * lead + np.array([20, 18, 16], np.float32) * (1 - lead)
    return np.clip(img, 0, 255).astype(np.uint8)


def starry(size: int = 512, strokes: int = 5000, seed: int = 1) -> np.ndarray:
    """Swirling brush strokes along a rotational flow field, (size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = STARRY_PALETTE[0]
    centres = rng.uniform(0.15, 0.85, (5, 2)) * size
    spins = rng.choice([-1.0, 1.0], 5) * rng.uniform(0.6, 1.2, 5)

    def flow(p: np.ndarray) -> np.ndarray:
        v = np.zeros_like(p)
        for c, w in zip(centres, spins):
            d = p - c
            r2 = (d**2).sum(-1, keepdims=True) + (0.08 * size) ** 2
            v += w * np.stack([-d[..., 1], d[..., 0]], -1) / r2 * size * 0.25
        v[..., 1] += 0.3  # a gentle drift to the right, like wind
        return v / (np.linalg.norm(v, axis=-1, keepdims=True) + 1e-6)

    radius = 3
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = (yy**2 + xx**2 <= radius**2).astype(np.float32)
    pos = rng.uniform(0, size, (strokes, 2))
    # Brighter, warmer colours near the vortex centres, blue elsewhere.
    near = np.min(np.linalg.norm(pos[:, None] - centres[None], axis=-1), axis=1) / size
    index = np.where(near < 0.08, rng.integers(4, 6, strokes), rng.integers(1, 4, strokes))
    index = np.where(rng.random(strokes) < 0.05, 6, index)
    colour = STARRY_PALETTE[index] * rng.uniform(0.85, 1.15, (strokes, 1))
    for _ in range(14):
        pos = pos + flow(pos) * 2.5
        ij = np.round(pos).astype(int)
        ok = (ij[:, 0] >= radius) & (ij[:, 0] < size - radius) & (ij[:, 1] >= radius) & (ij[:, 1] < size - radius)
        for (i, j), c in zip(ij[ok], colour[ok]):
            patch = canvas[i - radius : i + radius + 1, j - radius : j + radius + 1]
            patch += (c - patch) * disc[..., None] * 0.6
    return np.clip(canvas, 0, 255).astype(np.uint8)


STYLES = {"mosaic": mosaic, "starry": starry}
