import subprocess

import pytest

from pyfast.runtime import soundtrack
from pyfast.runtime.soundtrack import audio_codecs, copy_soundtrack
from tests.helpers import describe_media


def clip(path, ffmpeg, audio="aac", seconds=1.0, video="mpeg4"):
    """A small test-pattern video at 12 fps, with a 440 Hz tone encoded by ``audio`` (None: silent)."""
    command = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=48x36:rate=12:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={seconds}", "-c:a", audio]
    subprocess.run(command + ["-c:v", video, str(path)], check=True)
    return path


def test_audio_codecs_lists_each_audio_stream(tmp_path, ffmpeg):
    assert audio_codecs(clip(tmp_path / "tone.mp4", ffmpeg), ffmpeg) == ["aac"]
    assert audio_codecs(clip(tmp_path / "pcm.mov", ffmpeg, "pcm_s16le"), ffmpeg) == ["pcm_s16le"]
    assert audio_codecs(clip(tmp_path / "silent.mp4", ffmpeg, None), ffmpeg) == []
    with pytest.raises(RuntimeError, match=r"FFmpeg \(.*\) could not read .*missing.mp4: .*No such file"):
        audio_codecs(tmp_path / "missing.mp4", ffmpeg)


def test_an_ffmpeg_that_cannot_start_is_a_runtime_error(tmp_path):
    script = tmp_path / "ffmpeg"
    script.write_text("no interpreter line\n")
    script.chmod(0o755)
    with pytest.raises(RuntimeError, match=f"cannot run FFmpeg {script}: Exec format error"):
        audio_codecs(tmp_path / "x.mp4", str(script))


@pytest.mark.parametrize("source_audio, suffix, how, codec", [
    ("aac", ".mp4", "copied", "aac"),
    ("aac", ".mkv", "copied", "aac"),
    ("pcm_s16le", ".mp4", "aac", "aac"),  # FFmpeg would put PCM in MP4, but few players read it
    ("aac", ".webm", "libopus", "opus"),  # WebM takes Opus or Vorbis only
    ("pcm_s16le", ".avi", "copied", "pcm_s16le"),
    ("libvorbis", ".avi", "libmp3lame", "mp3"),  # FFmpeg would copy Vorbis into AVI, with broken timestamps
    ("pcm_s16le", ".mov", "copied", "pcm_s16le"),  # MOV holds PCM natively
])
def test_copy_soundtrack_copies_where_the_container_takes_the_codec(tmp_path, ffmpeg, source_audio, suffix, how, codec):
    source = clip(tmp_path / ("source.mkv" if source_audio.startswith(("pcm", "libvorbis")) else "source.mp4"), ffmpeg,
                  source_audio)
    pictures = clip(tmp_path / f"pictures{suffix}", ffmpeg, None,
                    video="libvpx" if suffix == ".webm" else "mjpeg" if suffix == ".avi" else "mpeg4")
    output = tmp_path / f"output{suffix}"
    assert copy_soundtrack(pictures, source, output, ffmpeg) == how
    assert audio_codecs(output, ffmpeg) == [codec]
    described = describe_media(ffmpeg, output)
    assert described.count("Video:") == 1


def test_surround_sound_that_opus_refuses_goes_into_webm_as_vorbis(tmp_path, ffmpeg):
    source = tmp_path / "surround.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x36:rate=12:duration=1", "-f", "lavfi",
                    "-i", "sine=frequency=440:sample_rate=48000:duration=1", "-ac", "6", "-channel_layout", "5.1(side)",
                    "-c:v", "mpeg4", "-c:a", "ac3", str(source)], check=True)
    pictures = clip(tmp_path / "pictures.webm", ffmpeg, None, video="libvpx")
    assert copy_soundtrack(pictures, source, tmp_path / "out.webm", ffmpeg) == "libvorbis"
    described = describe_media(ffmpeg, tmp_path / "out.webm")
    assert "Audio: vorbis, 48000 Hz, 5.1" in described


def test_pictures_start_where_the_sources_did_and_track_tags_are_kept(tmp_path, ffmpeg):
    source = tmp_path / "late.mkv"  # the pictures start 0.5 s after the sound; two tagged audio tracks
    subprocess.run([ffmpeg, "-v", "error", "-itsoffset", "0.5", "-f", "lavfi", "-i", "testsrc=size=48x36:rate=12:duration=1",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-f", "lavfi", "-i", "sine=frequency=660:duration=2",
                    "-map", "0", "-map", "1", "-map", "2", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1",
                    "language=fre", "-c:v", "mpeg4", "-c:a", "aac", str(source)], check=True)
    assert soundtrack.video_delay(source, ffmpeg) == pytest.approx(0.5, abs=0.01)
    pictures = clip(tmp_path / "pictures.mkv", ffmpeg, None)
    assert soundtrack.video_delay(pictures, ffmpeg) == 0.0
    output = tmp_path / "out.mkv"
    assert copy_soundtrack(pictures, source, output, ffmpeg) == "copied"
    assert soundtrack.video_delay(output, ffmpeg) == pytest.approx(0.5, abs=0.01)
    described = describe_media(ffmpeg, output)
    assert "(eng): Audio: aac" in described and "(fre): Audio: aac" in described


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
