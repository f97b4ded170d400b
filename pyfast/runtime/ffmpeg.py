"""Finding and running FFmpeg: the sound of stylised videos (:mod:`pyfast.runtime.soundtrack`)
and, where it has libx264, their H.264 pictures (:class:`FFmpegWriter`). OpenCV's writers,
the fallback, write MPEG-4 Part 2 into MP4, which browsers do not play.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache

import numpy as np

_LOG_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")


def find_ffmpeg() -> str | None:
    """The FFmpeg executable to use: ``PYFAST_FFMPEG`` if set (a path, or a command on ``PATH``),
    else the one the ``imageio-ffmpeg`` package ships (``pip install pyfast[video]``), else
    ``ffmpeg`` on ``PATH``; None if there is none.

    Raises:
        ValueError: ``PYFAST_FFMPEG`` names something that is not an executable file.
    """
    configured = os.environ.get("PYFAST_FFMPEG")
    if configured:
        found = shutil.which(configured)  # a path to an executable file, or a command name on PATH
        if found is None or not os.path.isfile(found):
            raise ValueError(f"PYFAST_FFMPEG={configured} is not an executable file")
        return found
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):  # not installed, or no binary for this platform
        return shutil.which("ffmpeg")


def file_url(path: str | os.PathLike) -> str:
    """``path`` as FFmpeg's ``file:`` URL, so that a name like ``rtmp:x.mp4`` or ``-y`` stays a local file."""
    return "file:" + os.path.abspath(path)


def run_ffmpeg(ffmpeg: str, *args: str) -> subprocess.CompletedProcess:
    """Runs FFmpeg with ``args``; its messages are in ``.stderr``.

    Raises:
        RuntimeError: the executable cannot be started.
    """
    try:
        return subprocess.run([ffmpeg, "-hide_banner", "-nostdin", *args], capture_output=True, text=True,
                              errors="replace")
    except OSError as exc:  # no exec permission, a script without #!, a vanished file
        raise RuntimeError(f"cannot run FFmpeg {ffmpeg}: {exc.strerror or exc}") from None


def first_message(stderr: str, returncode: int) -> str:
    """FFmpeg's first message (the cause; later lines are consequences), without its [component] prefixes."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    return next((line for line in lines if line), f"exit status {returncode}")


@lru_cache(maxsize=8)
def has_encoder(ffmpeg: str, encoder: str) -> bool:
    """Whether this FFmpeg build has ``encoder`` (say ``"libx264"``); False if it cannot be run."""
    try:
        listing = run_ffmpeg(ffmpeg, "-encoders").stdout
    except RuntimeError:
        return False
    return any(line.split()[1:2] == [encoder] for line in listing.splitlines() if line.strip())


class FFmpegWriter:
    """Encodes (H, W, 3) uint8 BGR frames to H.264 (yuv420p, CRF 18: visually lossless, plays in
    browsers) through a pipe into FFmpeg, with cv2.VideoWriter's ``write`` / ``release``.

    H.264 in yuv420p needs an even width and height. ``release`` never raises (it is called on
    the way out of errors too); a failure of FFmpeg's is kept in :attr:`error`, or raised by
    :meth:`close`.

    Raises:
        ValueError: odd frame size, or FFmpeg cannot be started.
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int, ffmpeg: str,
                 crf: int = 18, preset: str = "veryfast") -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 (yuv420p) needs an even frame size, got {width}x{height}")
        self.path, self.size, self.error = os.fspath(path), (height, width), None
        self._log = tempfile.TemporaryFile()  # FFmpeg's messages: a file, so a full pipe never blocks it
        command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{width}x{height}", "-framerate", f"{fps:.6f}", "-i", "pipe:0", "-c:v", "libx264",
                   "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", "-movflags", "+faststart",
                   file_url(path)]
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=self._log)
        except OSError as exc:
            self._log.close()
            raise ValueError(f"cannot run FFmpeg {ffmpeg}: {exc.strerror or exc}") from None

    def isOpened(self) -> bool:  # noqa: N802 (cv2.VideoWriter's name)
        return self._process.poll() is None

    def write(self, frame: np.ndarray) -> None:
        """Appends one (H, W, 3) uint8 BGR frame.

        Raises:
            ValueError: a frame of another size or dtype, or FFmpeg stopped (its message).
        """
        if frame.shape != (*self.size, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be {(*self.size, 3)} uint8, got {frame.shape} {frame.dtype}")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        except (BrokenPipeError, ValueError, OSError):  # FFmpeg exited; ValueError: stdin already closed
            self._process.wait()
            raise ValueError(f"FFmpeg stopped writing {self.path}: {self._message()}") from None

    def release(self) -> None:
        """Ends the stream and waits for FFmpeg; keeps a failure in :attr:`error`."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        if self._process.wait() != 0 and self.error is None:
            self.error = f"FFmpeg could not write {self.path}: {self._message()}"
        self._log.close()

    def close(self) -> None:
        """:meth:`release`, then raises ValueError if FFmpeg failed."""
        self.release()
        if self.error:
            raise ValueError(self.error)

    def _message(self) -> str:
        if self._log.closed:
            return f"exit status {self._process.returncode}"
        self._log.seek(0)
        return first_message(self._log.read().decode(errors="replace"), self._process.returncode)
