"""Carrying a video's sound over to its stylised copy, with FFmpeg.

OpenCV reads and writes pictures only, so the video it writes is silent. When an FFmpeg
executable is found (:func:`pyfast.runtime.ffmpeg.find_ffmpeg`), :func:`copy_soundtrack`
puts the source's audio streams next to the stylised picture stream: copied as they are where the container's
players take them, re-encoded otherwise (Opus or Vorbis for WebM, AAC for MP4/MOV/MKV, MP3
for AVI). The picture stream is never re-encoded; it is shifted to start where the source's
pictures did, relative to the sound.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .ffmpeg import faststart, file_url, first_message, run_ffmpeg

# Re-encoding targets per container, in order, when the source's audio cannot be copied into it
# (Vorbis takes WebM channel layouts that Opus refuses, such as 5.1(side)).
AUDIO_ENCODERS = {".webm": ("libopus", "libvorbis"), ".mp4": ("aac",), ".m4v": ("aac",), ".mov": ("aac",),
                  ".mkv": ("aac",), ".avi": ("libmp3lame",)}
# Audio codecs that players take in these containers; FFmpeg writes more (raw PCM into MP4,
# Vorbis or FLAC into AVI) that few players read. Matroska takes anything FFmpeg copies.
_PLAYABLE = {".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}, ".webm": {"opus", "vorbis"},
             ".avi": {"mp3", "mp2", "ac3", "pcm_s16le", "pcm_u8", "pcm_s24le"}}
_PLAYABLE[".m4v"] = _PLAYABLE[".mp4"]
_PLAYABLE[".mov"] = _PLAYABLE[".mp4"] | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le"}
_AUDIO_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: Audio: (\w+)", re.MULTILINE)
_FIRST_VIDEO = re.compile(r"^\s*Stream #\d+:\d+\S*: Video: .*$", re.MULTILINE)
_STREAM_START = re.compile(r", start (-?[\d.]+)")
_FILE_START = re.compile(r"^\s*Duration: .*?, start: (-?[\d.]+)", re.MULTILINE)


@dataclass(frozen=True)
class SourceSound:
    """What :func:`copy_soundtrack` needs to know of a source video, from one FFmpeg run."""

    codecs: list[str]  # the codec of each audio stream, say ["aac"]; empty for a silent video
    delay: float  # seconds from the file's start (its earliest stream) to its first picture


def probe_sound(video: str | os.PathLike, ffmpeg: str) -> SourceSound:
    """``video``'s audio codecs and picture delay, from FFmpeg's description of it as an input.

    Raises:
        RuntimeError: FFmpeg cannot be run or cannot read ``video``.
    """
    described = run_ffmpeg(ffmpeg, "-i", file_url(video)).stderr  # exits 1, "no output file": fine
    if "Input #0" not in described:
        raise RuntimeError(f"FFmpeg ({ffmpeg}) could not read {video}: {first_message(described, 1)}")
    file_start, first_video = _FILE_START.search(described), _FIRST_VIDEO.search(described)
    video_start = _STREAM_START.search(first_video.group(0)) if first_video else None
    delay = 0.0  # FFmpeg prints a stream's start only where it differs from the file's
    if file_start is not None and video_start is not None:
        delay = max(0.0, float(video_start.group(1)) - float(file_start.group(1)))
    return SourceSound(_AUDIO_STREAM.findall(described), delay)


def audio_codecs(video: str | os.PathLike, ffmpeg: str) -> list[str]:
    """The codec of each audio stream of ``video`` (say ``["aac"]``; empty for a silent video).

    Raises:
        RuntimeError: FFmpeg cannot be run or cannot read ``video``.
    """
    return probe_sound(video, ffmpeg).codecs


def video_delay(video: str | os.PathLike, ffmpeg: str) -> float:
    """Seconds from the start of ``video`` (its earliest stream) to its first picture: what
    the stylised pictures, which start at 0, are shifted by to stay in step with the sound.

    Raises:
        RuntimeError: FFmpeg cannot be run or cannot read ``video``.
    """
    return probe_sound(video, ffmpeg).delay


def copy_soundtrack(pictures: str | os.PathLike, source: str | os.PathLike, output: str | os.PathLike,
                    ffmpeg: str, sound: SourceSound | None = None) -> str:
    """Writes ``output``: the first video stream of ``pictures``, as it is, with every audio
    stream of ``source`` (their language and title tags kept). The container is ``output``'s
    suffix. The pictures start where ``source``'s do (:func:`video_delay`). ``sound`` is
    ``source``'s :func:`probe_sound`, when the caller has it already. Returns how the audio
    went in: ``"copied"`` or the encoder's name.

    Raises:
        RuntimeError: FFmpeg cannot be run, or could neither copy nor re-encode the audio,
            with its first message.
    """
    output = Path(output)
    suffix = output.suffix.lower()
    sound = sound or probe_sound(source, ffmpeg)
    playable = _PLAYABLE.get(suffix)
    copy = playable is None or set(sound.codecs) <= playable
    encoders = (["copy"] if copy else []) + list(AUDIO_ENCODERS.get(suffix, ()))
    shift = ["-itsoffset", f"{sound.delay:.6f}"] if sound.delay >= 0.001 else []
    message = ""
    for encoder in encoders:
        result = run_ffmpeg(ffmpeg, "-loglevel", "error", "-y", *shift, "-i", file_url(pictures), "-i", file_url(source),
                            "-map", "0:v:0", "-map", "1:a", "-c:v", "copy", "-c:a", encoder, *faststart(output),
                            file_url(output))
        if result.returncode == 0:
            return "copied" if encoder == "copy" else encoder
        message = first_message(result.stderr, result.returncode)
    raise RuntimeError(f"FFmpeg could not add the sound of {source} to {output.suffix} video: {message}")
