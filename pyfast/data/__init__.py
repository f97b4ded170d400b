"""Image IO, the sample photos shipped with pyfast and the style images it paints itself."""

from __future__ import annotations

from pathlib import Path

from .images import Image, fit_within, list_images, read_image, resize, write_image

SAMPLES_DIR = Path(__file__).parent / "samples"


def sample_images() -> list[Path]:
    """The public-domain / CC0 sample photos shipped with the package (see samples/README.md)."""
    return list_images(SAMPLES_DIR)


__all__ = ["Image", "SAMPLES_DIR", "fit_within", "list_images", "read_image", "resize", "sample_images", "write_image"]
