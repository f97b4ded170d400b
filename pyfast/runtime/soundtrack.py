"""Carrying a video's sound over to its stylised copy, with FFmpeg.

OpenCV reads and writes pictures only, so the video it writes is silent. When an FFmpeg
executable is found (:func:`find_ffmpeg`), :func:`copy_soundtrack` puts the source's audio
streams next to the stylised picture stream: copied as they are where the container takes
them, re-encoded otherwise (Opus for WebM, AAC for MP4/MOV, MP3 for AVI). The picture
stream is never re-encoded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

# Re-encoding target per container, when the source's audio cannot be copied into it.
AUDIO_ENCODERS = {".webm": "libopus", ".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "aac", ".avi": "libmp3lame"}
# Audio codecs that players take in these containers (FFmpeg writes more into MP4, e.g. raw PCM, that
# few players read); other containers get whatever FFmpeg will copy.
_PLAYABLE = {".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, ".webm": {"opus", "vorbis"}}
_PLAYABLE[".m4v"] = _PLAYABLE[".mov"] = _PLAYABLE[".mp4"]
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: Audio: (\w+)", re.MULTILINE)


def find_ffmpeg() -> str | None:
    """The FFmpeg executable to use: ``PYFAST_FFMPEG`` if set, else the one the ``imageio-ffmpeg``
    package ships (``pip install pyfast[video]``), else ``ffmpeg`` on ``PATH``; None if there is none.

    Raises:
        ValueError: ``PYFAST_FFMPEG`` names something that is not an executable file.
    """
    configured = os.environ.get("PYFAST_FFMPEG")
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise ValueError(f"PYFAST_FFMPEG={configured} is not an executable file")
        return configured
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):  # not installed, or no binary for this platform
        return shutil.which("ffmpeg")


def _file_url(path: str | os.PathLike) -> str:
    """``path`` as FFmpeg's ``file:`` URL, so that a name like ``rtmp:x.mp4`` or ``-y`` stays a local file."""
    return "file:" + os.path.abspath(path)


def audio_codecs(video: str | os.PathLike, ffmpeg: str) -> list[str]:
    """The codec of each audio stream of ``video`` (say ``["aac"]``; empty for a silent video),
    from FFmpeg's description of its input."""
    described = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", _file_url(video)],
                               capture_output=True, text=True, errors="replace")
    return _AUDIO_STREAM.findall(described.stderr)  # exits 1 ("no output file"): the description is the point


def copy_soundtrack(pictures: str | os.PathLike, source: str | os.PathLike, output: str | os.PathLike,
                    ffmpeg: str) -> str:
    """Writes ``output``: the first video stream of ``pictures``, as it is, with every audio
    stream of ``source``. The container is ``output``'s suffix. Returns how the audio went in:
    ``"copied"`` or the encoder's name.

    Raises:
        RuntimeError: FFmpeg could neither copy nor re-encode the audio, with its message.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    playable = _PLAYABLE.get(suffix)
    copy = playable is None or set(audio_codecs(source, ffmpeg)) <= playable
    encoders = (["copy"] if copy else []) + ([AUDIO_ENCODERS[suffix]] if suffix in AUDIO_ENCODERS else [])
    message = ""
    for encoder in encoders:
        command = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   "-i", _file_url(pictures), "-i", _file_url(source),
                   "-map", "0:v:0", "-map", "1:a", "-c:v", "copy", "-c:a", encoder, "-map_metadata", "-1",
                   _file_url(output)]
        result = subprocess.run(command, capture_output=True, text=True, errors="replace")
        if result.returncode == 0:
            return "copied" if encoder == "copy" else encoder
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else f"exit status {result.returncode}"
    raise RuntimeError(f"FFmpeg could not add the sound of {source} to {output.suffix} video: {message}")
