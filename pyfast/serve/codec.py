"""Image bytes in and out for the service: the format is sniffed from magic bytes, the
pixel count is checked from the header before anything is decoded."""

from __future__ import annotations

import io

import numpy as np

from ..data.images import open_image, rgb_and_alpha

# Magic bytes -> PIL format name. The Content-Type a client sends is never trusted.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
)
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


class ImageError(ValueError):
    """Bytes the service cannot take as an image; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def sniff_format(data: bytes) -> str | None:
    """"PNG", "JPEG", "WEBP" or "BMP" from the first bytes of ``data``; None for anything else."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def decode_image(data: bytes, max_pixels: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Decodes PNG, JPEG, WebP or BMP bytes to (H, W, 3) uint8 RGB and its (H, W) uint8
    alpha channel (None for an opaque image).

    Raises:
        ImageError: unknown format (415), zero size or undecodable/truncated data (400),
            more than ``max_pixels`` pixels (413; decided from the header, before decoding).
    """
    from PIL import Image as PILImage

    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError("body is not a PNG, JPEG, WebP or BMP image (format sniffed from its bytes)", 415)
    try:
        with open_image(io.BytesIO(data), formats=[fmt]) as im:
            width, height = im.size
            if width == 0 or height == 0:
                raise ImageError(f"image has zero size ({width}x{height})")
            if width * height > max_pixels:
                raise ImageError(f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels}", 413)
            im.load()
            rgb, alpha = rgb_and_alpha(im)
    except ImageError:
        raise
    except PILImage.DecompressionBombError:
        raise ImageError(f"image is over the limit of {max_pixels} pixels", 413) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{fmt} image could not be decoded ({' '.join(str(exc).split())[:160]})") from None
    return np.ascontiguousarray(rgb), alpha


def encode_image(rgb: np.ndarray, fmt: str = "png", quality: int = 90, alpha: np.ndarray | None = None) -> bytes:
    """(H, W, 3) uint8 RGB -> PNG (fast compression; with ``alpha`` (H, W) uint8, RGBA) or
    JPEG bytes (no alpha channel in JPEG).

    Raises:
        ValueError: unknown ``fmt`` or a bad array.
    """
    from PIL import Image as PILImage

    if fmt not in MEDIA_TYPES:
        raise ValueError(f"fmt must be one of {', '.join(MEDIA_TYPES)}, got {fmt!r}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    buffer = io.BytesIO()
    image = PILImage.fromarray(rgb, "RGB")
    if fmt == "png" and alpha is not None:
        image.putalpha(PILImage.fromarray(alpha, "L"))
    if fmt == "png":
        image.save(buffer, "PNG", compress_level=1)
    else:
        image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
