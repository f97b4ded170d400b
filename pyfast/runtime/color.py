"""Colour operations on uint8/float RGB arrays (numpy only)."""

from __future__ import annotations

import numpy as np

# ITU-R BT.601 full-range RGB <-> YCbCr (as in JPEG).
_TO_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_FROM_YCC = np.linalg.inv(_TO_YCC).astype(np.float32)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB 0-255 -> (..., 3) Y, Cb, Cr with chroma centred at 0."""
    return rgb.astype(np.float32) @ _TO_YCC.T


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    return ycc @ _FROM_YCC.T


def preserve_color(content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Luminance-only transfer: the stylised image's Y with the content's Cb, Cr.

    Args:
        content, stylized: (..., 3) RGB on the 0-255 scale, same shape.
    Returns:
        float32 (..., 3) RGB, unclipped.
    """
    y = rgb_to_ycbcr(stylized)[..., :1]
    chroma = rgb_to_ycbcr(content)[..., 1:]
    return ycbcr_to_rgb(np.concatenate([y, chroma], -1))


def blend(content: np.ndarray, stylized: np.ndarray, strength: float) -> np.ndarray:
    """``strength`` of the stylised image over the content (0: content, 1: stylised)."""
    if strength >= 1.0:
        return stylized.astype(np.float32)
    return strength * stylized.astype(np.float32) + (1.0 - strength) * content.astype(np.float32)


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)
