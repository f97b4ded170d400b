import subprocess
import sys

import pytest

from pyfast.runtime import soundtrack
from pyfast.runtime.soundtrack import audio_codecs, copy_soundtrack, find_ffmpeg


@pytest.fixture(scope="module")
def ffmpeg():
    return pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()


def clip(path, ffmpeg, audio="aac", seconds=1.0, video="mpeg4"):
    """A small test-pattern video at 12 fps, with a 440 Hz tone encoded by ``audio`` (None: silent)."""
    command = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=48x36:rate=12:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}", "-c:a", audio]
    subprocess.run(command + ["-c:v", video, str(path)], check=True)
    return path


def test_find_ffmpeg_prefers_the_configured_one_and_refuses_a_bad_one(monkeypatch, tmp_path, ffmpeg):
    monkeypatch.setenv("PYFAST_FFMPEG", ffmpeg)
    assert find_ffmpeg() == ffmpeg
    monkeypatch.setenv("PYFAST_FFMPEG", str(tmp_path))
    with pytest.raises(ValueError, match=f"PYFAST_FFMPEG={tmp_path} is not an executable file"):
        find_ffmpeg()
    (tmp_path / "not_executable").write_text("")
    monkeypatch.setenv("PYFAST_FFMPEG", str(tmp_path / "not_executable"))
    with pytest.raises(ValueError, match="is not an executable file"):
        find_ffmpeg()


def test_find_ffmpeg_falls_back_to_the_path_then_to_none(monkeypatch, tmp_path):
    monkeypatch.delenv("PYFAST_FFMPEG", raising=False)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # not installed
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg() is None
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_ffmpeg() == str(fake)


def test_audio_codecs_lists_each_audio_stream(tmp_path, ffmpeg):
    assert audio_codecs(clip(tmp_path / "tone.mp4", ffmpeg), ffmpeg) == ["aac"]
    assert audio_codecs(clip(tmp_path / "pcm.mov", ffmpeg, "pcm_s16le"), ffmpeg) == ["pcm_s16le"]
    assert audio_codecs(clip(tmp_path / "silent.mp4", ffmpeg, None), ffmpeg) == []
    assert audio_codecs(tmp_path / "missing.mp4", ffmpeg) == []


@pytest.mark.parametrize("source_audio, suffix, how, codec", [
    ("aac", ".mp4", "copied", "aac"),
    ("aac", ".mkv", "copied", "aac"),
    ("pcm_s16le", ".mp4", "aac", "aac"),  # FFmpeg would put PCM in MP4, but few players read it
    ("aac", ".webm", "libopus", "opus"),  # WebM takes Opus or Vorbis only
    ("pcm_s16le", ".avi", "copied", "pcm_s16le"),
])
def test_copy_soundtrack_copies_where_the_container_takes_the_codec(tmp_path, ffmpeg, source_audio, suffix, how, codec):
    source = clip(tmp_path / ("source.mov" if source_audio.startswith("pcm") else "source.mp4"), ffmpeg, source_audio)
    pictures = clip(tmp_path / f"pictures{suffix}", ffmpeg, None,
                    video="libvpx" if suffix == ".webm" else "mjpeg" if suffix == ".avi" else "mpeg4")
    output = tmp_path / f"output{suffix}"
    assert copy_soundtrack(pictures, source, output, ffmpeg) == how
    assert audio_codecs(output, ffmpeg) == [codec]
    described = subprocess.run([ffmpeg, "-hide_banner", "-i", str(output)], capture_output=True, text=True).stderr
    assert described.count("Video:") == 1


def test_copy_soundtrack_reads_odd_names_as_local_files(tmp_path, ffmpeg, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip(tmp_path / "rtmp:tone.mp4", ffmpeg)  # without file: FFmpeg would take this for a network stream
    clip(tmp_path / "-pictures.mp4", ffmpeg, None)
    assert copy_soundtrack("-pictures.mp4", "rtmp:tone.mp4", "-out.mp4", ffmpeg) == "copied"
    assert audio_codecs("-out.mp4", ffmpeg) == ["aac"]


def test_copy_soundtrack_names_the_failure(tmp_path, ffmpeg):
    source = clip(tmp_path / "tone.mp4", ffmpeg)
    broken = tmp_path / "pictures.mp4"
    broken.write_bytes(b"not a video")
    with pytest.raises(RuntimeError, match=r"FFmpeg could not add the sound of .*tone.mp4 to \.mp4 video: .+"):
        copy_soundtrack(broken, source, tmp_path / "out.mp4", ffmpeg)


def test_audio_encoders_cover_every_video_suffix_stylize_writes():
    from pyfast.runtime.stylize import VIDEO_SUFFIXES

    assert set(soundtrack.AUDIO_ENCODERS) == set(VIDEO_SUFFIXES)
