import os
import shutil
import subprocess

import pytest
import torch

import pyfast

CUDA_READY = torch.cuda.is_available() and pyfast.build_info()["cuda_compiled"]


def pytest_collection_modifyitems(config, items):
    if CUDA_READY:
        return
    reason = (
        "no CUDA device"
        if not torch.cuda.is_available()
        else "pyfast._C was built without CUDA kernels"
    )
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The FFmpeg of the imageio-ffmpeg package (in the test extra); skips without it."""
    return pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()


@pytest.fixture
def av1_clip(tmp_path, ffmpeg):
    """A 48x36, 12-frame AV1 clip, which the OpenCV of opencv-python cannot decode (skips where it can)."""
    import cv2

    from pyfast.runtime.ffmpeg import has_encoder
    from tests.runtime.test_soundtrack import clip

    if not has_encoder(ffmpeg, "libaom-av1"):
        pytest.skip("this FFmpeg has no AV1 encoder")
    path = clip(tmp_path / "av1.mp4", ffmpeg, audio=None, video="libaom-av1")
    if cv2.VideoCapture(str(path)).grab():
        pytest.skip("this OpenCV decodes AV1 itself")
    return path


@pytest.fixture
def anamorphic_clip(tmp_path, ffmpeg):
    """A 48x36, 6-frame H.264 clip at 12 fps whose pixels are 8:9 (NTSC DV's), shown at 43x36."""
    path = tmp_path / "anamorphic.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x36:rate=12:duration=0.5",
                    "-vf", "setsar=8/9", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


@pytest.fixture
def corrupt_av1_clip(av1_clip, ffmpeg):
    """``av1_clip`` with its index first and every frame's data zeroed: OpenCV opens it, FFmpeg decodes nothing."""
    indexed = av1_clip.with_name("indexed.mp4")
    subprocess.run([ffmpeg, "-v", "error", "-i", str(av1_clip), "-c", "copy", "-movflags", "+faststart", str(indexed)],
                   check=True)
    data = bytearray(indexed.read_bytes())
    start = data.find(b"mdat") + 4
    data[start:] = bytes(len(data) - start)
    corrupt = av1_clip.with_name("corrupt.mp4")
    corrupt.write_bytes(data)
    return corrupt


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="session")
def browser() -> str:
    """Chromium from the system's packages, installed with apt-get if it is missing."""
    found = _find_browser()
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(install, capture_output=True, timeout=600, env=env).returncode != 0:
            # A fresh machine may have no package lists yet.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, env=env)
            subprocess.run(install, capture_output=True, timeout=600, env=env)
        found = _find_browser()
    if found is None:
        pytest.skip("Chromium is not installed and could not be installed with apt-get (needs root and Debian's repositories)")
    return found
