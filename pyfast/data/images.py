"""Image files in and out, as numpy arrays (no torch): RGB uint8 (H, W, 3) plus optional alpha."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._files import existing_file, files_below, replaced_on_success

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# Decoded images above this many pixels are refused (decompression bombs, absurd inputs).
MAX_PIXELS = 100_000_000


@dataclass
class Image:
    """An RGB image and its alpha channel, if it had one."""

    rgb: np.ndarray  # (H, W, 3) uint8
    alpha: np.ndarray | None = None  # (H, W) uint8

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return self.rgb.shape[0], self.rgb.shape[1]


# warnings.catch_warnings() swaps process-wide state before Python 3.14: two threads inside it at
# once (the service decodes requests in parallel) can leave each other's filters in place for good.
# pyfast's own uses take turns; other code's catch_warnings in another thread still can race them.
_WARNING_FILTERS = threading.RLock()  # re-entrant: a caller may already hold it


@contextmanager
def ignoring_warnings(category: type[Warning] = Warning) -> Iterator[None]:
    """Ignores warnings of ``category`` inside the block, one of pyfast's threads at a time
    (keep the block short: other threads' warnings of that category are ignored meanwhile)."""
    with _WARNING_FILTERS, warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield


def open_image(source, formats: list[str] | None = None):
    """``PIL.Image.open(source, formats)`` without Pillow's DecompressionBombWarning, which comes
    from the header alone; the caller decides on the pixel count. Safe from many of pyfast's threads.

    Raises:
        PIL.Image.DecompressionBombError: over twice ``PIL.Image.MAX_IMAGE_PIXELS``.
        OSError / SyntaxError / ValueError: from Pillow, for data it cannot open.
    """
    from PIL import Image as PILImage

    with ignoring_warnings(PILImage.DecompressionBombWarning):
        return PILImage.open(source, formats=formats)


def _high_depth_gray_to_8bit(im):
    """A 16-bit, 32-bit integer or float grayscale PIL image as 8-bit "L" (PIL's own
    conversion clips every value above 255 to white). 16-bit data keeps its top 8 bits;
    32-bit integer images (how some readers return 16-bit files) are read as 16-bit data
    when a value exceeds 255 and as 8-bit data otherwise, values beyond 0..65535 clipped;
    float images in [0, 1] are scaled to 0..255, others clipped."""
    from PIL import Image as PILImage

    values = np.asarray(im)
    if im.mode.startswith("I;16"):
        values = values.astype(np.uint16) >> 8
    elif im.mode == "I":
        values = np.clip(values, 0, 65535) >> 8 if values.max(initial=0) > 255 else np.clip(values, 0, 255)
    else:  # "F": NaN and -inf black, +inf white, on the scale of the finite values
        values = values.astype(np.float64)
        finite = np.isfinite(values)
        top = 1.0 if values[finite].max(initial=0) <= 1.0 else 255.0
        values = np.where(finite, values, np.where(values > 0, top, 0.0))
        values = np.clip(values * (255.0 / top), 0, 255).round()
    return PILImage.fromarray(values.astype(np.uint8), "L")


def rgb_and_alpha(im) -> tuple[np.ndarray, np.ndarray | None]:
    """A loaded PIL image as (H, W, 3) uint8 RGB and (H, W) uint8 alpha, None when it has no
    transparency (RGBA, LA, PA and palette images with a transparent colour have)."""
    has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    rgba = im.convert("RGBA") if has_alpha else None
    rgb = np.asarray((rgba or im).convert("RGB"), dtype=np.uint8)
    return rgb, (np.asarray(rgba, dtype=np.uint8)[..., 3].copy() if rgba is not None else None)


def _to_srgb(im):
    """``im`` in sRGB when it carries another ICC colour profile (else unchanged)."""
    profile = im.info.get("icc_profile")
    if not profile or im.mode not in ("RGB", "RGBA", "CMYK"):
        return im
    import io

    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        if "srgb" in ImageCms.getProfileDescription(source).lower().replace(" ", ""):
            return im
        mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError):  # a damaged profile: use the pixels as they are
        return im


def read_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Image:
    """Reads an image file as RGB uint8; grayscale and palette images are converted, alpha kept.

    The EXIF orientation is applied (a portrait photo comes out upright); an embedded
    colour profile other than sRGB (Display P3, Adobe RGB, a CMYK press profile) is
    converted to sRGB; 16-bit and float grayscale images are scaled to 8 bits rather than
    clipped. Of an animation or a multi-page file, the first frame is read (with a warning).

    Raises:
        FileNotFoundError / IsADirectoryError: no such file; a folder.
        ValueError: not a decodable image, zero-size, or more than ``max_pixels`` pixels (or
            than Pillow's own limit, twice ``PIL.Image.MAX_IMAGE_PIXELS``, which this leaves as it is).
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    path = existing_file(path, "image file")
    try:
        with open_image(path) as im:  # max_pixels decides, from the header
            width, height = im.size
            if width * height > max_pixels:
                raise ValueError(f"{path}: {width}x{height} pixels is over the limit of {max_pixels}")
            if width == 0 or height == 0:
                raise ValueError(f"{path}: image has zero size ({width}x{height})")
            try:  # counting seeks through every frame: a damaged later frame is not this image's problem
                frames = getattr(im, "n_frames", 1)
            except Exception:
                frames = 1
                im.seek(0)  # the failed count left it at a later frame
            if frames > 1 and im.format != "MPO":  # MPO: a camera JPEG with an embedded preview
                warnings.warn(f"{path} holds {frames} frames (an animation or pages); only the first is used",
                              stacklevel=2)
            im.load()
            with ignoring_warnings():  # a damaged EXIF block: the pixels are still fine
                ImageOps.exif_transpose(im, in_place=True)
            im = _to_srgb(im)
            if im.mode.startswith("I") or im.mode == "F":
                im = _high_depth_gray_to_8bit(im)
            rgb, alpha = rgb_and_alpha(im)
    except PILImage.DecompressionBombError:  # over twice Pillow's own, process-wide limit: before our check
        pillow_limit = 2 * PILImage.MAX_IMAGE_PIXELS
        whose = "" if max_pixels <= pillow_limit else " (Pillow's: twice PIL.Image.MAX_IMAGE_PIXELS)"
        raise ValueError(f"{path}: image is over the limit of {min(max_pixels, pillow_limit)} pixels{whose}; "
                         f"refused as a possible decompression bomb") from None
    except ValueError:
        raise
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"{path} is not a readable image ({exc})") from None
    return Image(np.ascontiguousarray(rgb), alpha)


_LARGEST_SIDE = {".jpg": 65500, ".jpeg": 65500, ".webp": 16383}  # what libjpeg and libwebp can write


def write_image(path: str | os.PathLike, rgb: np.ndarray, alpha: np.ndarray | None = None, quality: int = 92) -> Path:
    """Writes (H, W, 3) uint8 RGB (plus alpha for formats that keep it); creates parent folders.
    A failed write leaves an existing file at ``path`` untouched.

    Raises:
        ValueError: unsupported file extension, bad array shape/dtype (``alpha``: (H, W)
            uint8), ``quality`` outside 1..100, or a picture larger than the format allows.
    """
    from PIL import Image as PILImage

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"unsupported image extension {suffix!r} for {path}; use one of {', '.join(IMAGE_SUFFIXES)}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    if alpha is not None and (alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]):
        raise ValueError(f"alpha must be (H, W) uint8 like rgb's {rgb.shape[:2]}, got {alpha.shape} {alpha.dtype}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer in 1..100, got {quality!r}")
    largest = _LARGEST_SIDE.get(suffix)
    if largest is not None and max(rgb.shape[:2]) > largest:
        raise ValueError(f"cannot write {path}: {rgb.shape[1]}x{rgb.shape[0]} pixels; {suffix} pictures are at most "
                         f"{largest} pixels a side (use .png or .tif)")
    keeps_alpha = suffix in (".png", ".webp", ".tif", ".tiff")
    if alpha is not None and keeps_alpha:
        im = PILImage.fromarray(np.dstack([rgb, alpha]), "RGBA")
    else:
        im = PILImage.fromarray(rgb, "RGB")
    kwargs = {"quality": quality} if suffix in (".jpg", ".jpeg", ".webp") else {}
    with replaced_on_success(path) as temporary:
        im.save(temporary, **kwargs)
    return path


def list_images(folder: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Image files below ``folder`` (recursive through linked folders too, sorted), leaving
    out the ``exclude`` folders. Raises FileNotFoundError for a missing folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no such folder: {folder}")
    return files_below(folder, IMAGE_SUFFIXES, exclude)


def resize(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resamples (H, W, C) or (H, W) uint8 to (height, width[, C]) with a Lanczos filter."""
    from PIL import Image as PILImage

    if rgb.shape[:2] == (height, width):
        return rgb
    single = rgb.ndim == 3 and rgb.shape[2] == 1
    out = np.asarray(PILImage.fromarray(rgb[..., 0] if single else rgb).resize((width, height), PILImage.Resampling.LANCZOS))
    return out[..., None] if single else out


def fit_within(height: int, width: int, max_size: int) -> tuple[int, int]:
    """(h, w) scaled down so that the longer side is at most ``max_size`` (never up)."""
    longer = max(height, width)
    if longer <= max_size:
        return height, width
    scale = max_size / longer
    return max(1, round(height * scale)), max(1, round(width * scale))
