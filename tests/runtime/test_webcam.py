import threading
import time

import cv2
import numpy as np
import pytest

from pyfast.runtime import Engine
from pyfast.runtime.stylize import StylizeOptions, Stylizer
from pyfast.runtime.webcam import _END, LatestSlot, draw_fps, run_webcam
from pyfast.zoo import get_style
from tests.helpers import describe_media, read_frames


def make_video(path, frames=24, size=(64, 48), fps=24.0):
    """An MJPG .avi of a square moving over a gradient."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    w, h = size
    for i in range(frames):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)
        frame[h // 4: h // 4 + 12, i % (w - 12): i % (w - 12) + 12] = 255
        writer.write(frame)
    writer.release()
    return path


class SlowEngine:
    """Inverts colours, slowly (a model slower than the camera)."""

    provider = "FakeProvider"

    def __init__(self, seconds):
        self.seconds = seconds

    def run(self, x):
        time.sleep(self.seconds)
        return 255.0 - x


def test_offline_video_is_stylised_frame_by_frame(tmp_path):
    source = make_video(tmp_path / "in.avi")
    stylizer = Stylizer(Engine(get_style("mosaic").onnx, providers="cpu"), StylizeOptions(max_size=32))
    stats = run_webcam(stylizer, source, out=tmp_path / "out.avi", window=False)
    assert (stats.captured, stats.stylized, stats.written, stats.dropped) == (24, 24, 24, 0)
    assert stats.fps > 0 and stats.latency_ms > 0
    written = read_frames(tmp_path / "out.avi")
    assert len(written) == 24 and written[0].shape == (24, 32, 3)  # processed at max size 32
    original = cv2.resize(read_frames(source)[5], (32, 24), interpolation=cv2.INTER_AREA)
    assert np.abs(written[5].astype(float) - original).mean() > 10


def test_the_recording_goes_through_ffmpeg_at_its_exact_size(tmp_path, ffmpeg, monkeypatch):
    import subprocess

    monkeypatch.setenv("PYFAST_FFMPEG", ffmpeg)
    source = tmp_path / "in.mkv"  # odd-sized, which OpenCV's writers cannot make
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=47x35:rate=12:duration=0.5",
                    "-c:v", "libx264", "-pix_fmt", "yuv444p", str(source)], check=True)
    stats = run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), source, out=tmp_path / "out.webm",
                       window=False)
    described = describe_media(ffmpeg, tmp_path / "out.webm")
    assert "Video: vp9" in described and "47x35" in described  # OpenCV would write VP8 at 46x34
    assert stats.written == len(read_frames(tmp_path / "out.webm")) == 6
    monkeypatch.setenv("PYFAST_FFMPEG", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="PYFAST_FFMPEG=.*missing is not an executable file"):
        run_webcam(Stylizer(SlowEngine(0.0)), source, out=tmp_path / "again.webm", window=False)
    assert not (tmp_path / "again.webm").exists()


def test_the_recording_keeps_the_sources_non_square_pixels(anamorphic_clip, tmp_path, ffmpeg, monkeypatch):
    monkeypatch.setenv("PYFAST_FFMPEG", ffmpeg)
    run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=32)), anamorphic_clip, out=tmp_path / "out.mp4",
               window=False)
    described = describe_media(ffmpeg, tmp_path / "out.mp4")
    assert "32x24 [SAR 8:9 " in described  # scaled down as a whole: its pixels keep their shape


def test_a_video_read_to_its_end_keeps_its_sound(tmp_path, ffmpeg):
    from pyfast.runtime.soundtrack import audio_codecs
    from tests.runtime.test_soundtrack import clip

    source = clip(tmp_path / "tone.mp4", ffmpeg, video="libx264")  # 12 frames and a tone
    runs = {  # name: (seconds per frame in the model, options)
        "whole": (0.0, {}), "silenced": (0.0, {"sound": False}), "stopped early": (0.0, {"max_frames": 5}),
        "in real time, every frame kept": (0.0, {"realtime": True}),
        "in real time, frames dropped": (0.25, {"realtime": True}),  # 12 fps in, 4 out
    }
    for name, (seconds, options) in runs.items():
        out = tmp_path / f"{name}.mp4"
        stats = run_webcam(Stylizer(SlowEngine(seconds), StylizeOptions(max_size=None)), source, out=out, window=False,
                           **options)
        assert stats.complete == (name in ("whole", "silenced", "in real time, every frame kept")), name
        assert audio_codecs(out, ffmpeg) == (["aac"] if stats.complete and name != "silenced" else []), name


def test_a_variable_frame_rate_video_is_recorded_without_its_sound_and_says_so(tmp_path, ffmpeg):
    import subprocess

    from pyfast.runtime.soundtrack import audio_codecs
    from tests.runtime.test_soundtrack import clip

    source = clip(tmp_path / "tone.mp4", ffmpeg, video="libx264", seconds=2.0)
    gappy = tmp_path / "gappy.mkv"  # frames 5-15 of 24 gone: played frame by frame, the pictures would run ahead
    subprocess.run([ffmpeg, "-v", "error", "-i", str(source), "-vf", "select='not(between(n,5,15))'",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "copy", str(gappy)], check=True)
    with pytest.warns(RuntimeWarning, match=r"out.mkv is written without sound: .*gappy.mkv has a variable frame "
                                            r"rate, which webcam writes frame by frame \(pyfast stylize keeps it"):
        stats = run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), gappy, out=tmp_path / "out.mkv",
                           window=False)
    assert stats.complete and not stats.steady and audio_codecs(tmp_path / "out.mkv", ffmpeg) == []


def test_a_video_opencv_cannot_decode_plays_through_ffmpeg(av1_clip, tmp_path):
    stats = run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), av1_clip, out=tmp_path / "out.avi",
                       window=False)
    assert stats.captured == stats.written == 12 and read_frames(tmp_path / "out.avi")[0].shape == (36, 48, 3)


def test_a_video_ffmpeg_decodes_nothing_from_is_an_error_saying_why(corrupt_av1_clip, tmp_path):
    with pytest.raises(ValueError, match=r"corrupt\.mp4: no frame could be decoded \(FFmpeg: "):
        run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), corrupt_av1_clip,
                   out=tmp_path / "out.avi", window=False)


def test_without_ffmpeg_an_undecodable_video_says_what_would_read_it(av1_clip, tmp_path, monkeypatch):
    import pyfast.runtime.ffmpeg
    from pyfast.runtime.stylize import stylize_video

    monkeypatch.setattr(pyfast.runtime.ffmpeg, "find_ffmpeg", lambda: None)
    stylizer = Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None))
    hint = r"av1\.mp4: no frame could be decoded \(damaged, or a codec OpenCV lacks; FFmpeg decodes more: pip install"
    with pytest.raises(ValueError, match=hint):
        run_webcam(stylizer, av1_clip, out=tmp_path / "out.avi", window=False)
    with pytest.raises(ValueError, match=hint):
        stylize_video(stylizer, av1_clip, tmp_path / "out.mp4", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["av1.mp4"]


def test_a_recording_ffmpeg_cannot_finish_is_an_error_and_keeps_the_earlier_file(tmp_path, monkeypatch):
    failing = tmp_path / "ffmpeg"  # lists the encoder, takes the frames, then fails
    failing.write_text("#!/bin/sh\ncase \"$*\" in *-encoders*) echo ' V....D libvpx-vp9 VP9'; exit 0;; esac\n"
                       "cat > /dev/null\necho 'disk on fire' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("PYFAST_FFMPEG", str(failing))
    out = tmp_path / "rec.webm"
    out.write_bytes(b"an older recording")
    with pytest.raises(ValueError, match=r"FFmpeg could not write .*rec\.webm: disk on fire"):
        run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), make_video(tmp_path / "in.avi", frames=4),
                   out=out, window=False)
    assert out.read_bytes() == b"an older recording"
    assert {p.name for p in tmp_path.iterdir()} == {"ffmpeg", "in.avi", "rec.webm"}


def test_realtime_mode_drops_stale_frames_instead_of_lagging(tmp_path):
    source = make_video(tmp_path / "in.avi", frames=30, fps=200.0)  # 5 ms a frame; the model takes 30 ms
    stylizer = Stylizer(SlowEngine(0.03), StylizeOptions(max_size=None))
    stats = run_webcam(stylizer, source, out=tmp_path / "out.mp4", window=False, realtime=True, overlay=False)
    assert stats.captured == 30
    assert stats.dropped > 0 and stats.stylized + stats.dropped == 30
    assert stats.written == stats.stylized == len(read_frames(tmp_path / "out.mp4"))
    assert stats.latency_ms < 200  # bounded by a frame or two of model time, not by the backlog


def test_latest_slot_keeps_only_the_newest_item():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.get() == 4 and slot.dropped == 4
    got = []
    reader = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    reader.start()
    slot.put("late")
    reader.join(5)
    assert got == ["late"]
    slot.close()
    assert slot.get() is _END


def test_max_frames_stops_and_overlay_draws(tmp_path):
    source = make_video(tmp_path / "in.avi")
    stats = run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), source, out=tmp_path / "o.avi",
                       window=False, max_frames=7)
    assert stats.captured == 7 and stats.written == 7
    frame = np.zeros((48, 64, 3), np.uint8)
    assert draw_fps(frame, 12.5, 40.0).any()


def test_bad_arguments(tmp_path):
    stylizer = Stylizer(SlowEngine(0.0))
    with pytest.raises(ValueError, match="nothing to do"):
        run_webcam(stylizer, tmp_path / "in.avi", out=None, window=False)
    with pytest.raises(FileNotFoundError):
        run_webcam(stylizer, tmp_path / "missing.avi", out=tmp_path / "o.avi", window=False)
    (tmp_path / "junk.avi").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="not a readable video"):
        run_webcam(stylizer, tmp_path / "junk.avi", out=tmp_path / "o.avi", window=False)
    with pytest.raises(ValueError, match="max_frames"):
        run_webcam(stylizer, make_video(tmp_path / "in.avi"), out=tmp_path / "o.avi", window=False, max_frames=0)


class FailingEngine:
    """Works for ``good`` frames, then raises (a model that breaks mid-stream)."""

    provider = "FakeProvider"

    def __init__(self, good):
        self.good = good

    def run(self, x):
        if self.good == 0:
            raise RuntimeError("the model failed")
        self.good -= 1
        return 255.0 - x


def _run_bounded(seconds, **kwargs):
    """run_webcam in a thread: (finished, exception) after at most ``seconds``."""
    outcome = []

    def target():
        try:
            run_webcam(**kwargs)
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return (not thread.is_alive()), (outcome[0] if outcome else None)


@pytest.mark.parametrize("good_frames", [0, 3])
def test_a_model_failing_mid_video_ends_the_run_with_its_error(tmp_path, good_frames):
    source = make_video(tmp_path / "in.avi", frames=60)
    stylizer = Stylizer(FailingEngine(good_frames), StylizeOptions(max_size=None))
    finished, error = _run_bounded(30, stylizer=stylizer, source=source, out=tmp_path / "out.avi", window=False)
    assert finished, "run_webcam hung after the model failed"
    assert isinstance(error, RuntimeError) and "the model failed" in str(error)


def test_an_unwritable_output_ends_the_run_with_its_error(tmp_path):
    source = make_video(tmp_path / "in.avi", frames=60)
    (tmp_path / "afile").write_text("not a folder")
    stylizer = Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None))
    finished, error = _run_bounded(30, stylizer=stylizer, source=source, out=tmp_path / "afile" / "out.avi", window=False)
    assert finished, "run_webcam hung after the writer failed"
    assert isinstance(error, OSError)


def test_the_written_video_has_no_overlay(tmp_path):
    source = make_video(tmp_path / "in.avi", frames=6)
    stylizer = Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None))
    for name, overlay in (("with.avi", True), ("without.avi", False)):
        run_webcam(stylizer, source, out=tmp_path / name, window=False, overlay=overlay)
    with_overlay, without = read_frames(tmp_path / "with.avi"), read_frames(tmp_path / "without.avi")
    assert len(with_overlay) == 6 and all(np.array_equal(a, b) for a, b in zip(with_overlay, without))


def test_refuses_its_own_input_and_non_video_names(tmp_path):
    source = make_video(tmp_path / "in.avi")
    before = source.read_bytes()
    stylizer = Stylizer(SlowEngine(0.0))
    with pytest.raises(ValueError, match="would overwrite the video being stylised"):
        run_webcam(stylizer, source, out=tmp_path / "." / "in.avi", window=False)
    with pytest.raises(ValueError, match=r"cannot write video to .*x.png: name a .mp4"):
        run_webcam(stylizer, source, out=tmp_path / "x.png", window=False)
    assert source.read_bytes() == before and not (tmp_path / "x.png").exists()


def ctrl_c_after(checks):
    """A ``should_stop`` that acts as Ctrl-C on its (checks + 1)-th call."""
    calls = []

    def should_stop():
        calls.append(1)
        if len(calls) > checks:
            raise KeyboardInterrupt
        return False

    return should_stop


def test_ctrl_c_on_a_video_file_keeps_the_earlier_output(tmp_path):
    source = make_video(tmp_path / "in.avi", frames=60)
    out = tmp_path / "out.avi"
    out.write_bytes(b"earlier output")
    stylizer = Stylizer(SlowEngine(0.01), StylizeOptions(max_size=None))
    with pytest.raises(KeyboardInterrupt):
        run_webcam(stylizer, source, out=out, window=False, should_stop=ctrl_c_after(3))
    assert out.read_bytes() == b"earlier output"
    assert {p.name for p in tmp_path.iterdir()} == {"in.avi", "out.avi"}  # no temporary file left


class FakeCamera:
    """An endless camera of 48x64 gradient frames at 30 fps (cv2.VideoCapture's methods used)."""

    def read(self):
        time.sleep(0.005)
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[..., 1] = np.linspace(0, 255, 64, dtype=np.uint8)
        return True, frame

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_COUNT: -1.0}.get(prop, 0.0)

    def release(self):
        pass


def test_ctrl_c_on_a_camera_ends_and_keeps_the_recording(tmp_path, monkeypatch):
    import pyfast.runtime.webcam as webcam

    monkeypatch.setattr(webcam, "open_capture", lambda source, ffmpeg=None: FakeCamera())
    out = tmp_path / "rec.avi"
    out.write_bytes(b"an older recording")
    stats = run_webcam(Stylizer(SlowEngine(0.0), StylizeOptions(max_size=None)), 0, out=out, window=False,
                       should_stop=ctrl_c_after(10))
    assert stats.written > 0 and stats.output == out
    assert len(read_frames(out)) == stats.written  # the new recording replaced the old file
    assert {p.name for p in tmp_path.iterdir()} == {"rec.avi"}
