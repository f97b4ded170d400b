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
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from .._checks import check_positive

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
                              errors="replace", start_new_session=True)  # Ctrl-C is pyfast's to handle
    except OSError as exc:  # no exec permission, a script without #!, a vanished file
        raise RuntimeError(f"cannot run FFmpeg {ffmpeg}: {exc.strerror or exc}") from None


def first_message(stderr: str, returncode: int) -> str:
    """FFmpeg's first message (the cause; later lines are consequences), without its [component] prefixes."""
    lines = [_LOG_PREFIX.sub("", line).strip() for line in stderr.splitlines()]
    return next((line for line in lines if line), f"exit status {returncode}")


def faststart(path: str | os.PathLike) -> list[str]:
    """FFmpeg's options that put an MP4/MOV file's index first (it plays while it loads); none for other containers."""
    return ["-movflags", "+faststart"] if Path(path).suffix.lower() in (".mp4", ".m4v", ".mov") else []


@lru_cache(maxsize=8)
def has_encoder(ffmpeg: str, encoder: str) -> bool:
    """Whether this FFmpeg build has ``encoder`` (say ``"libx264"``); False if it cannot be run."""
    try:
        listing = run_ffmpeg(ffmpeg, "-encoders").stdout
    except RuntimeError:
        return False
    return any(line.split()[1:2] == [encoder] for line in listing.splitlines() if line.strip())


class FFmpegWriter:
    """Encodes (H, W, 3) uint8 BGR frames to H.264 through a pipe into FFmpeg, with
    cv2.VideoWriter's ``write`` / ``release``: yuv420p at CRF 18, or yuv444p for an odd width or
    height, which 4:2:0 cannot hold (the size stays exact; Chromium decodes both, tested; other
    browsers' support for 4:4:4 varies). FFmpeg runs in its own session: an interrupt is pyfast's
    to act on.

    ``release`` does not raise (it is called on the way out of errors too); a failure of
    FFmpeg's is kept in :attr:`error`, or raised by :meth:`close`. Messages name ``name``
    (the file the user asked for), default ``path``.

    Raises:
        ValueError: a frame rate that is not a finite number > 0, or FFmpeg cannot be started.
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int, ffmpeg: str,
                 crf: int = 18, preset: str = "veryfast", name: str | os.PathLike | None = None) -> None:
        rate = Fraction(check_positive(fps, "fps")).limit_denominator(1001)  # 29.97 -> 30000/1001
        self.name, self.size, self.error = os.fspath(name if name is not None else path), (height, width), None
        self._log = tempfile.TemporaryFile()  # FFmpeg's messages: a file, so a full pipe never blocks it
        pixels = "yuv444p" if width % 2 or height % 2 else "yuv420p"
        command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{width}x{height}", "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
                   "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", pixels,
                   *faststart(path), file_url(path)]
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                             stderr=self._log, start_new_session=True)
        except OSError as exc:
            self._log.close()
            raise ValueError(f"cannot run FFmpeg {ffmpeg}: {exc.strerror or exc}") from None

    def isOpened(self) -> bool:  # noqa: N802 (cv2.VideoWriter's name)
        return self._process.poll() is None

    def write(self, frame: np.ndarray) -> None:
        """Appends one (H, W, 3) uint8 BGR frame.

        Raises:
            ValueError: a frame of another size or dtype, a released writer, or FFmpeg
                stopped (with its message).
        """
        if frame.shape != (*self.size, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame must be {(*self.size, 3)} uint8, got {frame.shape} {frame.dtype}")
        if self._process.stdin is None or self._process.stdin.closed:
            raise ValueError(f"the writer of {self.name} is released")
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data)
        except OSError:  # BrokenPipeError: FFmpeg exited
            self._process.wait()
            raise ValueError(f"FFmpeg stopped writing {self.name}: {self._message()}") from None

    def release(self) -> None:
        """Ends the stream and waits for FFmpeg to finish the file; keeps a failure in :attr:`error`."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        if self._process.wait() != 0 and self.error is None:
            self.error = f"FFmpeg could not write {self.name}: {self._message()}"
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
