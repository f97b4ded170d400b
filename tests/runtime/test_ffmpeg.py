import subprocess
import sys

import numpy as np
import pytest

from pyfast.runtime.ffmpeg import (FFmpegCapture, FFmpegWriter, container_damage, find_ffmpeg, has_encoder,
                                   open_failure)
from tests.helpers import describe_media, first_part, read_frames
from tests.runtime.test_soundtrack import clip


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


def test_find_ffmpeg_takes_a_command_name_on_the_path(monkeypatch, tmp_path):
    fake = tmp_path / "my-ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYFAST_FFMPEG", "my-ffmpeg")
    assert find_ffmpeg() == str(fake)


def test_find_ffmpeg_falls_back_to_the_path_then_to_none(monkeypatch, tmp_path):
    monkeypatch.delenv("PYFAST_FFMPEG", raising=False)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # not installed
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg() is None
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_ffmpeg() == str(fake)


def _frames(n=6, size=(36, 48)):
    rng = np.random.default_rng(0)
    return [np.repeat(np.repeat(rng.integers(0, 256, (size[0] // 4, size[1] // 4, 3), dtype=np.uint8), 4, 0), 4, 1)
            for _ in range(n)]


def test_ffmpeg_writer_encodes_h264_that_decodes_back_close(tmp_path, ffmpeg):
    assert has_encoder(ffmpeg, "libx264") and not has_encoder(ffmpeg, "no_such_encoder")
    frames = _frames()
    writer = FFmpegWriter(tmp_path / "out.mp4", 12.0, 48, 36, ffmpeg)
    for frame in frames:
        writer.write(frame)
    writer.close()
    described = describe_media(ffmpeg, tmp_path / "out.mp4")
    assert "Video: h264" in described and "yuv420p" in described and "48x36" in described and "12 fps" in described
    decoded = read_frames(tmp_path / "out.mp4")
    assert len(decoded) == len(frames)
    errors = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(decoded, frames)]
    assert max(errors) < 12  # CRF 18 of 4x4-block noise, with 4:2:0 chroma: close, not bit-exact


@pytest.mark.parametrize("suffix, codec, pixels", [(".mp4", "h264", "yuv444p"), (".mkv", "h264", "yuv444p"),
                                                   (".webm", "vp9", "yuv420p"), (".avi", "mjpeg", "yuvj420p")])
def test_every_container_keeps_an_odd_frame_size(tmp_path, ffmpeg, suffix, codec, pixels):
    """OpenCV's writers round 47x35 down to 46x34; FFmpeg's codecs keep it (H.264 in 4:4:4)."""
    frames = [np.ascontiguousarray(frame[:35, :47]) for frame in _frames(4, (36, 48))]
    path = tmp_path / f"odd{suffix}"
    writer = FFmpegWriter(path, 12.0, 47, 35, ffmpeg)
    for frame in frames:
        writer.write(frame)
    writer.close()
    described = describe_media(ffmpeg, path)
    assert f"Video: {codec}" in described and pixels in described and "47x35" in described
    assert "bt470bg" in described  # the matrix the colours were converted with, for players that would guess
    decoded = read_frames(path)
    assert len(decoded) == len(frames) and decoded[0].shape == (35, 47, 3)
    if codec == "h264":  # 4:4:4; OpenCV's decoder resamples odd-sized 4:2:0 chroma itself (see below)
        assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(decoded, frames)) < 8


def _chroma_planes(ffmpeg, path, pixels, width, height):
    """The decoded 4:2:0 frames' (U, V) planes as stored, (n, 2, ceil(H/2), ceil(W/2)): no colour conversion."""
    raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pixels, "-"],
                         capture_output=True, check=True).stdout
    luma, half = width * height, ((height + 1) // 2, (width + 1) // 2)
    frames = np.frombuffer(raw, np.uint8).reshape(-1, luma + 2 * half[0] * half[1])
    return frames[:, luma:].reshape(-1, 2, *half).astype(int)


@pytest.mark.parametrize("suffix, pixels", [(".webm", "yuv420p"), (".avi", "yuvj420p")])
def test_odd_sizes_in_4_2_0_keep_their_colours_in_place(tmp_path, ffmpeg, suffix, pixels):
    """Each chroma sample of a 47x35 picture covers the same 2x2 pixels as in the 48x36 one it is
    cut from (FFmpeg left to itself resamples 47 columns into 24, shifting colours by ~1 pixel)."""
    frames = _frames(4, (36, 48))
    for name, (width, height) in (("even", (48, 36)), ("odd", (47, 35))):
        writer = FFmpegWriter(tmp_path / f"{name}{suffix}", 12.0, width, height, ffmpeg)
        for frame in frames:
            writer.write(np.ascontiguousarray(frame[:height, :width]))
        writer.close()
    even = _chroma_planes(ffmpeg, tmp_path / f"even{suffix}", pixels, 48, 36)
    odd = _chroma_planes(ffmpeg, tmp_path / f"odd{suffix}", pixels, 47, 35)
    assert np.abs(odd[..., :17, :23] - even[..., :17, :23]).mean() < 2  # the last row and column differ


def test_ffmpeg_writer_refuses_a_container_it_has_no_codec_for(tmp_path, ffmpeg):
    with pytest.raises(ValueError, match=r"cannot write video .*x\.flv: pyfast writes \.mp4, .*\.avi videos"):
        FFmpegWriter(tmp_path / "x.flv", 12.0, 48, 36, ffmpeg)


def test_ntsc_frame_rates_are_written_as_ratios(tmp_path, ffmpeg):
    import cv2

    writer = FFmpegWriter(tmp_path / "ntsc.mp4", 30000 / 1001, 48, 36, ffmpeg)
    for frame in _frames(3):
        writer.write(frame)
    writer.close()
    assert "29.97 fps" in describe_media(ffmpeg, tmp_path / "ntsc.mp4")
    writer = FFmpegWriter(tmp_path / "hourly.mkv", 1 / 3600, 48, 36, ffmpeg)  # under 1/1001: not rounded to 0
    for frame in _frames(2):
        writer.write(frame)
    writer.close()
    assert cv2.VideoCapture(str(tmp_path / "hourly.mkv")).get(cv2.CAP_PROP_FPS) == pytest.approx(1 / 3600, rel=1e-3)
    for fps in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="fps must be a finite number > 0"):
            FFmpegWriter(tmp_path / "x.mp4", fps, 48, 36, ffmpeg)


def test_ffmpeg_writer_refuses_wrong_frames_and_writes_after_release(tmp_path, ffmpeg):
    writer = FFmpegWriter(tmp_path / "out.mp4", 12.0, 48, 36, ffmpeg)
    with pytest.raises(ValueError, match=r"frame must be \(36, 48, 3\) uint8, got \(36, 48\) uint8"):
        writer.write(np.zeros((36, 48), np.uint8))
    writer.release()
    writer.release()  # twice: harmless
    with pytest.raises(ValueError, match="the writer of .*out.mp4 is released"):
        writer.write(_frames(1)[0])


def test_ffmpeg_writer_reports_ffmpegs_failure(tmp_path, ffmpeg):
    writer = FFmpegWriter(tmp_path / "no_folder" / ".partial.mp4", 12.0, 48, 36, ffmpeg, name="out.mp4")
    with pytest.raises(ValueError, match=r"^FFmpeg (stopped writing|could not write) out.mp4: .*No such file") as error:
        for frame in _frames(200):
            writer.write(frame)
        writer.close()
    assert ".partial" not in str(error.value)  # FFmpeg's own message names the asked-for file too
    writer.release()  # after a failure: no error of its own
    broken = tmp_path / "ffmpeg"
    broken.write_text("no interpreter line\n")
    broken.chmod(0o755)
    with pytest.raises(ValueError, match="cannot run FFmpeg .*Exec format error"):
        FFmpegWriter(tmp_path / "x.mp4", 12.0, 48, 36, str(broken))
    silent = tmp_path / "silent-ffmpeg"  # takes the frames, exits 0, writes nothing
    silent.write_text("#!/bin/sh\ncat > /dev/null\n")
    silent.chmod(0o755)
    writer = FFmpegWriter(tmp_path / "y.mp4", 12.0, 48, 36, str(silent))
    writer.write(_frames(1)[0])
    with pytest.raises(ValueError, match=r"FFmpeg wrote nothing to .*y\.mp4 and reported no error: is .*silent-ffmpeg"):
        writer.close()


def test_open_video_writer_uses_ffmpeg_where_it_has_the_containers_encoder(tmp_path, ffmpeg):
    import cv2

    from pyfast.runtime.stylize import open_video_writer

    def kind(name, size, with_ffmpeg=ffmpeg):
        writer = open_video_writer(tmp_path / name, tmp_path / name, 12.0, *size, with_ffmpeg)
        writer.release()
        return type(writer)

    for name in ("a.mp4", "a.m4v", "a.mov", "a.mkv", "a.webm", "a.avi"):
        assert kind(name, (47, 36)) is FFmpegWriter, name
    assert kind("e.mp4", (48, 36), None) is cv2.VideoWriter and kind("e.webm", (48, 36), None) is cv2.VideoWriter
    no_vp9 = tmp_path / "bin" / "ffmpeg"  # an FFmpeg build without libvpx-vp9 (only its encoder list matters)
    no_vp9.parent.mkdir()
    no_vp9.write_text("#!/bin/sh\necho ' V....D libx264 H.264'\n")
    no_vp9.chmod(0o755)
    with pytest.warns(RuntimeWarning, match=r"f\.webm: the FFmpeg at .* has no libvpx-vp9 encoder, so OpenCV writes"):
        assert kind("f.webm", (48, 36), str(no_vp9)) is cv2.VideoWriter
    with pytest.warns(RuntimeWarning, match=r"g\.mp4: the FFmpeg at .*missing cannot be run, so OpenCV writes"):
        assert kind("g.mp4", (48, 36), str(tmp_path / "missing")) is cv2.VideoWriter  # IMAGEIO_FFMPEG_EXE gone bad


_PLAYER_PAGE = """<html><body><pre id="r">pending</pre><script>
const names = %s, out = {};
for (const name of names) {
  const v = document.createElement("video");
  v.muted = true;
  const done = (what) => { out[name] = what; if (Object.keys(out).length == names.length)
    document.getElementById("r").textContent = JSON.stringify(out); };
  v.addEventListener("loadeddata", () => done(v.videoWidth + "x" + v.videoHeight));
  v.addEventListener("error", () => done("error"));
  v.src = name; document.body.appendChild(v);
}
</script></body></html>"""


@pytest.mark.slow
def test_chromium_plays_the_h264_files_and_not_opencvs_mpeg4(tmp_path, ffmpeg, browser):
    """What the README says about browsers: H.264 (4:2:0 and the 4:4:4 of odd sizes) and VP9 (odd
    sizes too) decode in Chromium with their size; OpenCV's MPEG-4 Part 2 .mp4 gives no picture."""
    import json
    import re

    import cv2

    from pyfast.runtime.stylize import open_video_writer

    for name, size, with_ffmpeg in (("h264.mp4", (48, 36), ffmpeg), ("odd.mp4", (47, 35), ffmpeg),
                                    ("odd.webm", (47, 35), ffmpeg), ("mp4v.mp4", (48, 36), None)):
        writer = open_video_writer(tmp_path / name, tmp_path / name, 12.0, *size, with_ffmpeg)
        for frame in _frames(12, (36, 48)):
            writer.write(np.ascontiguousarray(frame[:size[1], :size[0]]))
        writer.release()
        assert isinstance(writer, cv2.VideoWriter) == (with_ffmpeg is None)
    page = tmp_path / "page.html"
    page.write_text(_PLAYER_PAGE % json.dumps(["h264.mp4", "odd.mp4", "odd.webm", "mp4v.mp4"]))
    dom = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--allow-file-access-from-files", f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    found = re.search(r'<pre id="r">(\{.*?\})</pre>', dom)
    assert found, f"the page did not report: {dom[-500:]}"
    played = json.loads(found.group(1).replace("&quot;", '"'))
    assert played["h264.mp4"] == "48x36" and played["odd.mp4"] == "47x35" and played["odd.webm"] == "47x35"
    assert played["mp4v.mp4"] in ("0x0", "error")  # no picture: Chromium has no MPEG-4 Part 2 decoder


def test_ffmpeg_capture_decodes_as_opencv_does_rotation_included(tmp_path, ffmpeg):
    import cv2

    plain = clip(tmp_path / "plain.mp4", ffmpeg, audio=None, video="libx264")
    rotated = tmp_path / "rotated.mp4"  # a phone's portrait video: pictures stored landscape, shown turned
    subprocess.run([ffmpeg, "-v", "error", "-display_rotation", "90", "-i", str(plain), "-c", "copy", str(rotated)],
                   check=True)
    for path, shown in ((plain, (48, 36)), (rotated, (36, 48))):
        expected = read_frames(path)
        assert expected[0].shape == (shown[1], shown[0], 3) and len(expected) == 12
        capture = FFmpegCapture(path, *shown, ffmpeg, {cv2.CAP_PROP_FPS: 12.0})
        got = []
        while (frame := capture.read())[0]:
            got.append(frame[1])
        assert len(got) == 12 and got[0].shape == (shown[1], shown[0], 3)
        assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(got, expected)) < 1.5
        assert capture.read() == (False, None) and capture.error is None
        assert capture.get(cv2.CAP_PROP_FPS) == 12.0 and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 0
        capture.release()
        capture.release()  # twice: harmless
        assert not capture.isOpened()


def test_video_reader_falls_back_to_ffmpeg_for_a_codec_opencv_cannot_decode(av1_clip, ffmpeg):
    from pyfast.runtime.stylize import VideoReader

    with VideoReader(av1_clip, ffmpeg) as video:
        assert isinstance(video.capture, FFmpegCapture) and (video.width, video.height, video.fps) == (48, 36, 12.0)
        frames = list(video)
    assert len(frames) == 12 and frames[0].shape == (36, 48, 3) and frames[0].std() > 20  # the test pattern
    with VideoReader(av1_clip) as video:  # no FFmpeg: OpenCV's nothing, as before
        assert list(video) == [] and video.error is None


def test_video_reader_says_why_ffmpeg_decoded_nothing(corrupt_av1_clip, ffmpeg):
    from pyfast.runtime.stylize import VideoReader

    with VideoReader(corrupt_av1_clip, ffmpeg) as video:
        assert isinstance(video.capture, FFmpegCapture)
        assert list(video) == [] and video.error.startswith("FFmpeg: ")  # and says why


def test_ffmpeg_capture_hands_on_each_frame_once_for_variable_rates_and_late_starts(tmp_path, ffmpeg):
    """No frame-rate conversion: FFmpeg's default for raw output would repeat and drop frames, and
    the stylised pictures would drift from the sound."""
    plain = clip(tmp_path / "plain.mp4", ffmpeg, audio=None, video="libx264", seconds=2.0)  # 24 frames at 12 fps
    gappy = tmp_path / "gappy.mkv"  # frames 5-15 gone: 13 frames over 2 s
    subprocess.run([ffmpeg, "-v", "error", "-i", str(plain), "-vf", "select='not(between(n,5,15))'",
                    "-fps_mode", "vfr", "-c:v", "libx264", str(gappy)], check=True)
    late = tmp_path / "late.mp4"  # the pictures start 0.5 s after the sound
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "sine=duration=3", "-itsoffset", "0.5",
                    "-i", str(plain), "-map", "1:v", "-map", "0:a", "-c:v", "copy", "-c:a", "aac", str(late)], check=True)
    for path, frames in ((gappy, 13), (late, 24)):
        expected = read_frames(path)
        capture = FFmpegCapture(path, expected[0].shape[1], expected[0].shape[0], ffmpeg)
        got = []
        while (frame := capture.read())[0]:
            got.append(frame[1])
        capture.release()
        assert len(got) == len(expected) == frames, path.name
        assert got[0].flags.writeable  # as OpenCV's frames are: callers draw on them
        assert max(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(got, expected)) < 1.5


def test_ffmpeg_capture_names_a_program_that_is_not_ffmpeg(tmp_path):
    mute = tmp_path / "not-ffmpeg"  # exits 0, says nothing, gives nothing
    mute.write_text("#!/bin/sh\nexit 0\n")
    mute.chmod(0o755)
    capture = FFmpegCapture(tmp_path / "x.mp4", 48, 36, str(mute))
    assert capture.read() == (False, None)
    assert capture.error == f"{mute} gave no frame and no message: is it FFmpeg?"
    capture.release()


def test_container_damage_finds_files_cut_short_and_nothing_in_sound_ones(tmp_path, ffmpeg):
    run = lambda *args: subprocess.run([ffmpeg, "-v", "error", *map(str, args)], check=True)  # noqa: E731
    base = clip(tmp_path / "base.mp4", ffmpeg, video="libx264", seconds=3.0)  # with sound
    run("-i", base, "-c", "copy", "-movflags", "+faststart", tmp_path / "indexed.mp4")
    run("-i", base, "-c", "copy", tmp_path / "base.mkv")
    run("-i", base, "-c:v", "mjpeg", "-c:a", "mp3", tmp_path / "base.avi")
    run("-ss", "0.7", "-i", base, "-c", "copy", tmp_path / "trimmed.mp4")  # an edit list: samples before the cut
    run("-f", "lavfi", "-i", "sine=duration=5", "-i", base, "-map", "1:v", "-map", "0:a", "-c:v", "copy",
        tmp_path / "longer_sound.mkv")  # the file states 5 s, its pictures last 3
    gappy = tmp_path / "gappy.webm"  # variable rate: frames 5-30 gone
    run("-i", base, "-vf", "select='not(between(n,5,30))'", "-fps_mode", "vfr", "-c:v", "libvpx-vp9",
        "-deadline", "realtime", gappy)
    for sound in ("base.mp4", "indexed.mp4", "base.mkv", "base.avi", "trimmed.mp4", "longer_sound.mkv", "gappy.webm"):
        assert container_damage(ffmpeg, tmp_path / sound) is None, sound
    run("-i", base, "-c", "copy", "-movflags", "frag_keyframe+empty_moov", tmp_path / "fragments.mp4")
    run("-i", base, "-c:v", "mjpeg", "-c:a", "pcm_s16le", tmp_path / "pcm.avi")
    for name, fraction, zeroed in [
        ("indexed.mp4", 0.5, False), ("base.mkv", 0.5, False), ("base.avi", 0.5, False),
        ("fragments.mp4", 0.8, False),  # every picture there; the last fragment's sound cut, where OpenCV stops
        ("pcm.avi", 0.8, False),  # cut inside a sound chunk
        ("base.mkv", 0.5, True), ("indexed.mp4", 0.5, True),  # a reserved file's zeros
    ]:
        found = container_damage(ffmpeg, first_part(tmp_path / name, fraction, zeroed))
        assert found is not None and not found.startswith("[") and not found.endswith("."), (name, fraction, found)
    assert container_damage(str(tmp_path / "no-such-ffmpeg"), tmp_path / "base.mkv") is None


def test_open_failure_says_why_ffmpeg_cannot_open_a_file(tmp_path, ffmpeg):
    whole = clip(tmp_path / "whole.mp4", ffmpeg, video="libx264")  # its index last, as FFmpeg writes by default
    assert open_failure(ffmpeg, whole) is None
    assert open_failure(ffmpeg, first_part(whole)) == "moov atom not found"
    assert open_failure(str(tmp_path / "no-such-ffmpeg"), whole) is None


def test_ffmpeg_writer_takes_a_float_pixel_aspect_and_refuses_a_bad_one(tmp_path, ffmpeg):
    writer = FFmpegWriter(tmp_path / "out.mp4", 12.0, 48, 36, ffmpeg, pixel_aspect=8 / 9)
    writer.write(np.zeros((36, 48, 3), np.uint8))
    writer.close()
    assert "[SAR 8:9 " in describe_media(ffmpeg, tmp_path / "out.mp4")
    with pytest.raises(ValueError, match="pixel_aspect"):
        FFmpegWriter(tmp_path / "bad.mp4", 12.0, 48, 36, ffmpeg, pixel_aspect=0)
