"""Small assertions and test files shared by the tests."""

import struct
import subprocess
import zlib

import torch


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rtol: float) -> None:
    """Relative error in the Frobenius norm, computed in float64."""
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    assert a.shape == e.shape, (a.shape, e.shape)
    err = (a - e).norm() / e.norm().clamp_min(1e-300)
    assert err <= rtol, f"relative error {err:.3g} > {rtol:g}"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression-bomb probe): no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def describe_media(ffmpeg: str, path) -> str:
    """FFmpeg's description of a media file (its streams: codec, pixel format, size, rate)."""
    return subprocess.run([ffmpeg, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def read_frames(path) -> list:
    """Every frame of a video as OpenCV decodes it: (H, W, 3) uint8 BGR arrays."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while (got := capture.read())[0]:
        frames.append(got[1])
    capture.release()
    return frames


def decode_in_threads_over_pillows_warning_size(decode, threads: int = 8, repeats: int = 200) -> tuple[bool, int]:
    """Runs ``decode(png_bytes)`` from many threads, switching threads as often as Python allows,
    on a 20x20 PNG with Pillow's bomb-warning limit lowered to 300 pixels (a warning, not yet an
    error). Returns (whether ``warnings.filters`` changed, how many DecompressionBombWarnings
    escaped): a decoder that is safe to call from many threads gives (False, 0)."""
    import io
    import sys
    import threading
    import warnings

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    limit, interval = Image.MAX_IMAGE_PIXELS, sys.getswitchinterval()
    Image.MAX_IMAGE_PIXELS = 300
    sys.setswitchinterval(1e-6)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            filters = list(warnings.filters)
            workers = [threading.Thread(target=lambda: [decode(data) for _ in range(repeats)]) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            changed = list(warnings.filters) != filters
    finally:
        Image.MAX_IMAGE_PIXELS, _ = limit, sys.setswitchinterval(interval)
    return changed, sum(issubclass(w.category, Image.DecompressionBombWarning) for w in caught)


def first_part(path, fraction: float = 0.5, zeroed: bool = False):
    """A copy of ``path`` cut off after ``fraction`` of its bytes, as a stopped download or
    recording leaves it; with ``zeroed``, its full length with zeros after that point instead, as
    a downloader that reserves the file's size leaves it. Named ``cut_<name>``."""
    data = path.read_bytes()
    keep = int(len(data) * fraction)
    cut = path.with_name(f"cut_{path.name}")
    cut.write_bytes(data[:keep] + (bytes(len(data) - keep) if zeroed else b""))
    return cut
