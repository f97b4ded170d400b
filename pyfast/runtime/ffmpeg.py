"""Finding and running FFmpeg: the sound of stylised videos (:mod:`pyfast.runtime.soundtrack`),
their pictures (:class:`FFmpegWriter`: H.264, VP9 or Motion JPEG by container, at the exact
frame size) and the decoding of sources OpenCV cannot decode (:class:`FFmpegCapture`). OpenCV's
writers, the fallback, write MPEG-4 Part 2 into MP4, which browsers do not play, and round an
odd frame size down to even.
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


GET_FFMPEG = "pip install imageio-ffmpeg, or set PYFAST_FFMPEG"  # for messages where FFmpeg was missing


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


# FFmpeg's words for a file that ends inside its data (a download or a recording cut off), whose
# tail is zeros (a downloader's reserved space) or which holds damaged packets; a clean file,
# edited, late-starting, variable-rate or with a longer sound track, gives none (tested).
_DAMAGE = re.compile(r"File ended prematurely|partial file|Packet corrupt|corrupt input packet"
                     r"|invalid as first byte of an EBML number|Invalid NAL unit size")


def container_damage(ffmpeg: str, path: str | os.PathLike) -> str | None:
    """FFmpeg's first message about damage to ``path``'s container (truncated, zero-filled or
    corrupt packets), found in one pass that copies its video and audio packets without
    decoding them (bench: ``bench/scripts/video_io.py``); None when there is none or FFmpeg
    cannot run. The sound counts: OpenCV stops reading pictures at a damaged audio packet too.
    Not found: an AVI over 1 GiB cut between its packets (its later index is simply missing)."""
    try:
        result = run_ffmpeg(ffmpeg, "-v", "warning", "-i", file_url(path), "-map", "0:v:0?", "-map", "0:a?",
                            "-c", "copy", "-f", "null", "-")
    except RuntimeError:
        return None
    return next((_LOG_PREFIX.sub("", line).strip().rstrip(".") for line in result.stderr.splitlines()
                 if _DAMAGE.search(line)), None)


def open_failure(ffmpeg: str, path: str | os.PathLike) -> str | None:
    """Why FFmpeg cannot open ``path`` as media ("moov atom not found": an MP4 whose download
    stopped before its index), in its first message; None if it can, or cannot run."""
    try:
        result = run_ffmpeg(ffmpeg, "-v", "error", "-i", file_url(path), "-t", "0", "-f", "null", "-")
    except RuntimeError:
        return None
    return first_message(result.stderr, result.returncode).rstrip(".") if result.returncode else None


def faststart(path: str | os.PathLike) -> list[str]:
    """FFmpeg's options that put an MP4/MOV file's index first (it plays while it loads); none for other containers."""
    return ["-movflags", "+faststart"] if Path(path).suffix.lower() in (".mp4", ".m4v", ".mov") else []


VIDEO_ENCODERS = {  # the container (by suffix) -> FFmpeg's encoder for its pictures
    ".mp4": "libx264", ".m4v": "libx264", ".mov": "libx264", ".mkv": "libx264",
    ".webm": "libvpx-vp9", ".avi": "mjpeg",
}
_BT601 = ("-colorspace", "bt470bg")  # the YUV matrix FFmpeg converts with; untagged, players may take BT.709 for HD
_ENCODER_OPTIONS = {  # constant quality; 9-16 ms of one core per 1280x720 frame (bench/scripts/video_io.py)
    "libx264": ("-preset", "veryfast", "-crf", "18", *_BT601),
    "libvpx-vp9": ("-crf", "28", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
                   *_BT601),
    "mjpeg": ("-q:v", "3"),  # JPEG's own BT.601, full range
}


def video_encoder(path: str | os.PathLike) -> str | None:
    """FFmpeg's encoder for the pictures of ``path``'s container (:data:`VIDEO_ENCODERS`); None for others."""
    return VIDEO_ENCODERS.get(Path(path).suffix.lower())


def _pixel_format(encoder: str, width: int, height: int) -> str:
    if encoder == "mjpeg":
        return "yuvj420p"  # full-range 4:2:0, JPEG's own; odd sizes are fine
    if encoder == "libx264" and (width % 2 or height % 2):
        return "yuv444p"  # H.264's 4:2:0 cannot hold an odd size
    return "yuv420p"  # VP9 stores odd sizes in 4:2:0


@lru_cache(maxsize=8)
def _passthrough(ffmpeg: str) -> tuple[str, str]:
    """The option that hands frames on as decoded, none duplicated or dropped for a constant rate
    (FFmpeg's default for raw output, which would desynchronise a variable-rate or late-starting
    video from its sound): ``-fps_mode`` since FFmpeg 5.1, ``-vsync`` before it (gone in 9)."""
    try:
        listing = run_ffmpeg(ffmpeg, "-h", "long").stdout
    except RuntimeError:
        listing = ""
    return ("-fps_mode", "passthrough") if "-fps_mode" in listing else ("-vsync", "passthrough")


@lru_cache(maxsize=8)
def encoders(ffmpeg: str) -> frozenset[str]:
    """The encoders this FFmpeg build has (one run of ``-encoders`` per executable); none if it cannot be run."""
    try:
        listing = run_ffmpeg(ffmpeg, "-encoders").stdout
    except RuntimeError:
        return frozenset()
    return frozenset(fields[1] for line in listing.splitlines() if len(fields := line.split()) > 1)


def has_encoder(ffmpeg: str, encoder: str) -> bool:
    """Whether this FFmpeg build has ``encoder`` (say ``"libx264"``); False if it cannot be run."""
    return encoder in encoders(ffmpeg)


def _logged(log) -> str:
    """Everything FFmpeg wrote to its message file ``log`` (an open temporary file)."""
    log.seek(0)
    return log.read().decode(errors="replace")


def _start(command: list[str], log, **pipes) -> subprocess.Popen:
    """Starts FFmpeg (``command[0]``) in its own session, so an interrupt is pyfast's to act on,
    with its messages going to the file ``log`` (a file never fills up and blocks it as a pipe can).

    Raises:
        ValueError: it cannot be started (``log`` is closed then).
    """
    try:
        return subprocess.Popen(command, stderr=log, start_new_session=True, **pipes)
    except OSError as exc:
        log.close()
        raise ValueError(f"cannot run FFmpeg {command[0]}: {exc.strerror or exc}") from None


class FFmpegWriter:
    """Encodes (H, W, 3) uint8 BGR frames through a pipe into FFmpeg, with cv2.VideoWriter's
    ``write`` / ``release``, in the codec of ``name``'s container (:data:`VIDEO_ENCODERS`), at
    the exact frame size, tagged with the BT.601 matrix their colours are converted with and
    with ``pixel_aspect``, the width : height of one pixel, where it is not 1 (an anamorphic source's):

    - MP4/M4V/MOV/MKV: H.264 at CRF 18, yuv420p, or yuv444p for an odd width or height, which
      4:2:0 cannot hold (Chromium decodes both, tested; other browsers' support for 4:4:4
      varies); MP4, M4V and MOV with their index first, for streaming.
    - WebM: VP9 at CRF 28, yuv420p (odd sizes too, their colours sited as for even ones).
    - AVI: Motion JPEG at quality 3, full-range 4:2:0 (likewise).

    FFmpeg runs in its own session: an interrupt is pyfast's to act on. ``release`` does not
    raise (it is called on the way out of errors too); a failure of FFmpeg's is kept in
    :attr:`error`, or raised by :meth:`close`. ``name`` (default ``path``) is the file the user
    asked for: messages name it and its suffix picks the codec; ``path`` (often a temporary
    file) has the same suffix.

    Raises:
        ValueError: a frame rate that is not a finite number > 0, a suffix with no codec
            above, or FFmpeg cannot be started.
    """

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int, ffmpeg: str,
                 name: str | os.PathLike | None = None, pixel_aspect: Fraction | float = Fraction(1)) -> None:
        exact = Fraction(check_positive(fps, "fps"))
        pixel_aspect = Fraction(check_positive(pixel_aspect, "pixel_aspect")).limit_denominator(65535)
        rate = exact.limit_denominator(1001)  # 29.97 -> 30000/1001
        if abs(rate - exact) > exact * Fraction(1, 10_000):  # a rate under 1/1001 fps, or finely fractional
            rate = exact.limit_denominator(1_000_000)
        self.name, self.size, self.error = os.fspath(name if name is not None else path), (height, width), None
        self._path, self._ffmpeg = os.fspath(path), ffmpeg
        encoder = video_encoder(self.name)
        if encoder is None:
            raise ValueError(f"cannot write video {self.name}: pyfast writes {', '.join(VIDEO_ENCODERS)} videos")
        pixels = _pixel_format(encoder, width, height)
        # FFmpeg subsamples the chroma of an odd width W into ceil(W / 2) samples by resampling (not by
        # pairs), which shifts colours by up to a pixel: an odd size in 4:2:0 goes in padded to even
        # (edge pixels repeated) and is cropped back after the conversion.
        self._pad = (height % 2, width % 2) if pixels.endswith("420p") else (0, 0)
        filters = [f"format={pixels}", f"crop={width}:{height}:0:0:exact=1"] if any(self._pad) else []
        if pixel_aspect != 1:  # non-square pixels (anamorphic DV, DVD): players stretch them back
            filters.append(f"setsar={pixel_aspect.numerator}/{pixel_aspect.denominator}:max=65535")
        self._log = tempfile.TemporaryFile()
        command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "-s", f"{width + self._pad[1]}x{height + self._pad[0]}",
                   "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0",
                   *(["-vf", ",".join(filters)] if filters else []),
                   "-c:v", encoder, *_ENCODER_OPTIONS[encoder], "-pix_fmt", pixels, *faststart(path), file_url(path)]
        self._process = _start(command, self._log, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

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
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
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
        elif self.error is None and not (os.path.isfile(self._path) and os.path.getsize(self._path)):
            self.error = f"FFmpeg wrote nothing to {self.name} and reported no error: is {self._ffmpeg} FFmpeg?"
        self._log.close()

    def close(self) -> None:
        """:meth:`release`, then raises ValueError if FFmpeg failed."""
        self.release()
        if self.error:
            raise ValueError(self.error)

    def _message(self) -> str:
        if self._log.closed:
            return f"exit status {self._process.returncode}"
        message = first_message(_logged(self._log), self._process.returncode)
        for temporary in (file_url(self._path), os.path.abspath(self._path)):  # name the file asked for instead
            message = message.replace(temporary, self.name)
        return message


class FFmpegCapture:
    """Decodes a video file's first video stream through a pipe from FFmpeg, for files whose
    codec OpenCV's own FFmpeg cannot decode (AV1 in opencv-python, say), with
    cv2.VideoCapture's ``read`` / ``get`` / ``isOpened`` / ``release``: (H, W, 3) uint8 BGR
    frames, each decoded frame once (no frame-rate conversion), turned upright as OpenCV turns
    them (FFmpeg applies the rotation metadata too, and a mirroring one, which OpenCV ignores),
    and scaled to exactly ``width`` x ``height`` should FFmpeg see another size. Frames are
    writable arrays, as OpenCV's are.

    ``get`` answers what the caller probed (``properties``: cv2 property id -> value), 0 for
    anything else. After ``read`` returns False, :attr:`error` holds FFmpeg's first error
    message, if it gave one (it may exit 0 after decoding nothing from a corrupt stream).

    Raises:
        ValueError: FFmpeg cannot be started.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, ffmpeg: str,
                 properties: dict[int, float] | None = None) -> None:
        self.size, self.error, self._properties = (height, width), None, dict(properties or {})
        self._ffmpeg, self._frames = ffmpeg, 0
        self._log = tempfile.TemporaryFile()
        command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", file_url(path), "-map", "0:v:0",
                   "-vf", f"scale={width}:{height}", *_passthrough(ffmpeg), "-f", "rawvideo", "-pix_fmt", "bgr24",
                   "pipe:1"]
        self._process = _start(command, self._log, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)

    def isOpened(self) -> bool:  # noqa: N802 (cv2.VideoCapture's name)
        return self._process.stdout is not None and not self._process.stdout.closed

    def get(self, prop: int) -> float:
        return float(self._properties.get(prop, 0.0))

    def read(self) -> tuple[bool, np.ndarray | None]:
        """The next frame, as cv2.VideoCapture.read: (True, (H, W, 3) uint8 BGR) or (False, None) at the end."""
        if not self.isOpened():
            return False, None
        frame = np.empty((*self.size, 3), np.uint8)
        view, got = memoryview(frame).cast("B"), 0
        while got < view.nbytes and (count := self._process.stdout.readinto(view[got:])):
            got += count
        if got < view.nbytes:
            self._process.wait()
            messages = _logged(self._log)
            if messages.strip() or self._process.returncode != 0:
                self.error = f"FFmpeg: {first_message(messages, self._process.returncode)}"
            elif self._frames == 0:
                self.error = f"{self._ffmpeg} gave no frame and no message: is it FFmpeg?"
            return False, None
        self._frames += 1
        return True, frame

    def release(self) -> None:
        """Stops FFmpeg (it may be mid-file) and closes the pipe; harmless twice."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()
