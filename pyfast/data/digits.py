"""MNIST-like digits the project generates, and any folder of images, as generator training data.

- :func:`make_digits`: ``n`` white-on-black digits drawn by :func:`pyfast.data.glyphs.render_digit`
  (random affine transform, stroke width and wobble), with random peak brightness and pixel
  noise; 8-bit (0..255) or binarised (0/1) variants. Digit ``i`` depends only on ``(seed, i)``
  and ``size``, so a held-out set is simply another seed (:data:`HELDOUT_SEED`).
- :func:`load_image_folder`: every image below a folder, centre-cropped to a square, resized,
  grayscale or RGB.
- :func:`load_dataset`: one of the two, as the generator commands' ``--data`` chooses.

All functions return uint8 arrays (N, C, H, W) ready to become tensors; no torch here.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .._checks import check_int
from .images import list_images, read_image, resize

VARIANTS = ("8bit", "binary")
# Held-out sets (evaluation, the model cards) are drawn with this seed; training uses others (default 0).
HELDOUT_SEED = 1_000_003
# Per-digit ranges: peak brightness of the strokes and standard deviation of the pixel noise.
PEAK_RANGE = (0.8, 1.0)
NOISE_RANGE = (0.0, 0.04)
# Luma weights (ITU-R BT.601), RGB -> grayscale.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")


def binarize(images: np.ndarray) -> np.ndarray:
    """8-bit images -> 0/1 uint8 (a pixel is 1 where it is at least 128)."""
    return (np.asarray(images) >= 128).astype(np.uint8)


def make_digits(n: int, size: int = 28, seed: int = 0, variant: str = "8bit") -> tuple[np.ndarray, np.ndarray]:
    """``n`` MNIST-like digits and their labels, deterministic per ``seed``.

    Each digit gets a uniformly drawn label, a random affine transform, stroke width and
    wobble (from :func:`~pyfast.data.glyphs.render_digit`), a peak brightness in
    :data:`PEAK_RANGE` and Gaussian pixel noise with a standard deviation in :data:`NOISE_RANGE`.

    Args:
        n: number of digits (>= 0).
        size: height and width in pixels (>= 8); 28 is MNIST's size.
        seed: non-negative integer; digit ``i`` is drawn from a generator seeded with ``(seed, i)``.
        variant: ``"8bit"`` (values 0..255) or ``"binary"`` (0/1: the 8-bit digit thresholded at 128).

    Returns:
        images (n, 1, size, size) uint8 and labels (n,) int64 in 0..9.

    Raises:
        ValueError: negative ``n`` or ``seed``, ``size`` < 8, unknown ``variant``.
    """
    from .glyphs import render_digit

    n = check_int(n, "n", 0)
    size = check_int(size, "size", 8)
    seed = check_int(seed, "seed", 0)
    _check_variant(variant)
    images = np.empty((n, 1, size, size), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    for i in range(n):
        rng = np.random.default_rng((seed, i))
        labels[i] = rng.integers(10)
        digit = render_digit(int(labels[i]), size, rng) * rng.uniform(*PEAK_RANGE)
        digit += rng.normal(0.0, rng.uniform(*NOISE_RANGE), digit.shape).astype(np.float32)
        images[i, 0] = (np.clip(digit, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    return (binarize(images) if variant == "binary" else images), labels


def _square(rgb: np.ndarray) -> np.ndarray:
    """The centred square of side min(H, W)."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return rgb[top:top + side, left:left + side]


def load_image_folder(folder: str | os.PathLike, size: int = 28, channels: int = 1) -> np.ndarray:
    """Every image below ``folder`` as a training set: centre square crop, resized, gray or RGB.

    Unreadable files are skipped with one warning each.

    Args:
        folder: searched recursively for image files (see :data:`pyfast.data.images.IMAGE_SUFFIXES`).
        size: output height and width (>= 8).
        channels: 1 (grayscale, BT.601 luma) or 3 (RGB).

    Returns:
        (N, channels, size, size) uint8, in the folder's sorted file order.

    Raises:
        FileNotFoundError: no such folder.
        ValueError: no readable image in it, ``size`` < 8 or ``channels`` not 1 or 3.
    """
    size = check_int(size, "size", 8)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    paths = list_images(folder)
    if not paths:
        raise ValueError(f"no images found in {folder}")
    pictures = []
    for path in paths:
        try:
            rgb = read_image(path).rgb
        except ValueError as exc:
            warnings.warn(f"skipping unreadable image: {exc}", RuntimeWarning, stacklevel=2)
            continue
        rgb = resize(_square(rgb), size, size)
        if channels == 1:
            gray = (rgb.astype(np.float32) @ _LUMA + 0.5).clip(0, 255).astype(np.uint8)
            pictures.append(gray[None])
        else:
            pictures.append(rgb.transpose(2, 0, 1))
    if not pictures:
        raise ValueError(f"no readable images in {folder}")
    return np.ascontiguousarray(np.stack(pictures))


def load_dataset(data: str | os.PathLike | None = None, *, n: int = 20_000, size: int = 28, channels: int = 1,
                 variant: str = "8bit", seed: int = 0) -> np.ndarray:
    """Training or evaluation images: a folder (``data``) or, when ``data`` is None, generated digits.

    Args:
        data: folder of images, or None for :func:`make_digits` (``n`` digits with ``seed``;
            ``channels`` must then be 1).
        n, seed: size and seed of the generated set (ignored for a folder).
        size, channels: picture size and channel count (a folder is converted to them).
        variant: ``"8bit"`` or ``"binary"`` (a folder's pictures are thresholded at 128).

    Returns:
        (N, channels, size, size) uint8; 0..255, or 0/1 for ``"binary"``.

    Raises:
        FileNotFoundError / ValueError: as :func:`make_digits` and :func:`load_image_folder`;
        ValueError for generated digits with ``channels`` other than 1.
    """
    _check_variant(variant)
    if data is None:
        if channels != 1:
            raise ValueError(f"the generated digits have 1 channel, got channels={channels}; use --data for RGB images")
        return make_digits(n, size, seed, variant)[0]
    images = load_image_folder(data, size, channels)
    return binarize(images) if variant == "binary" else images
