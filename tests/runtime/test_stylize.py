import numpy as np
import pytest

from pyfast.runtime.color import blend, preserve_color, rgb_to_ycbcr
from pyfast.runtime.stylize import StylizeOptions, Stylizer, finish_output


class FakeEngine:
    """Inverts colours; records batch shapes."""

    provider = "FakeProvider"

    def __init__(self):
        self.calls = []

    def run(self, x):
        self.calls.append(x.shape)
        return 255.0 - x


def test_stylizer_runs_batches_and_clips():
    engine = FakeEngine()
    frames = np.random.default_rng(0).integers(0, 256, (3, 9, 11, 3), dtype=np.uint8)
    out = Stylizer(engine)(frames)
    assert engine.calls == [(3, 3, 9, 11)]
    np.testing.assert_array_equal(out, 255 - frames)


def test_strength_blends_with_the_content():
    frames = np.full((1, 8, 8, 3), 200, np.uint8)
    out = Stylizer(FakeEngine(), StylizeOptions(strength=0.25))(frames)
    np.testing.assert_array_equal(out, np.full_like(frames, round(0.25 * 55 + 0.75 * 200)))


def test_preserve_color_keeps_chroma_and_takes_luminance():
    rng = np.random.default_rng(1)
    content = rng.integers(0, 256, (6, 6, 3)).astype(np.float32)
    styled = rng.integers(0, 256, (6, 6, 3)).astype(np.float32)
    mixed = rgb_to_ycbcr(preserve_color(content, styled))
    np.testing.assert_allclose(mixed[..., 0], rgb_to_ycbcr(styled)[..., 0], atol=1e-3)
    np.testing.assert_allclose(mixed[..., 1:], rgb_to_ycbcr(content)[..., 1:], atol=1e-3)
    np.testing.assert_allclose(blend(content, styled, 0.0), content)


def test_max_size_policy():
    big = np.zeros((300, 500, 3), np.uint8)
    resized = Stylizer(FakeEngine(), StylizeOptions(max_size=100)).fit(big)
    assert resized.shape == (60, 100, 3)
    with pytest.raises(ValueError, match="photo.jpg is 500x300, over the max size of 100 pixels"):
        Stylizer(FakeEngine(), StylizeOptions(max_size=100, oversize="error")).fit(big, "photo.jpg")


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(strength=1.5), r"strength must be a number in \[0, 1\], got 1.5"),
     (dict(strength="0.5"), r"strength must be a number in \[0, 1\], got '0.5'"),
     (dict(strength=float("nan")), r"strength must be a number in \[0, 1\], got nan"), (dict(oversize="crop"), "oversize must be"),
     (dict(max_size=2), "max_size must be an integer >= 5, got 2"), (dict(max_size=64.5), "max_size must be an integer"),
     (dict(batch_size=0), "batch_size must be a positive integer, got 0"), (dict(batch_size=2.5), "batch_size must be")],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StylizeOptions(**kwargs)


def test_options_keep_the_checked_values():
    import decimal

    options = StylizeOptions(strength=decimal.Decimal("0.5"), max_size=np.int64(64), batch_size=np.int32(2))
    assert (options.strength, options.max_size, options.batch_size) == (0.5, 64, 2)
    assert type(options.strength) is float and type(options.max_size) is int and type(options.batch_size) is int


def test_too_small_or_malformed_frames():
    with pytest.raises(ValueError, match="needs at least 5x5"):
        Stylizer(FakeEngine())(np.zeros((1, 3, 9, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frames must be \(N, H, W, 3\) uint8"):
        Stylizer(FakeEngine())(np.zeros((1, 9, 9, 3), np.float32))


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (2, 3, 4, 6), (1, 1, 4, 6), (1, 3, 4, 6, 1)])
def test_an_output_of_the_wrong_shape_is_named_not_broadcast(shape):
    frames = np.zeros((1, 4, 6, 3), np.uint8)
    with pytest.raises(RuntimeError, match="a style model returns"):
        finish_output(frames, np.zeros(shape, np.float32))


def test_plan_outputs_keeps_layout_and_refuses_clobbering(tmp_path):
    from pathlib import Path

    from pyfast.runtime.stylize import plan_outputs

    a, b = tmp_path / "in" / "a.png", tmp_path / "in" / "sub" / "b.jpg"
    files = [(a, tmp_path / "in"), (b, tmp_path / "in")]
    assert plan_outputs(files, tmp_path / "out") == [tmp_path / "out" / "a.png", tmp_path / "out" / "sub" / "b.jpg"]
    with pytest.raises(ValueError, match="would overwrite an input"):
        plan_outputs(files, tmp_path / "in")
    with pytest.raises(ValueError, match="would both be written"):
        plan_outputs([(a, None), (tmp_path / "other" / "a.png", None)], tmp_path / "out")
    with pytest.raises(ValueError, match="videos to video files"):
        plan_outputs([(Path(tmp_path / "clip.mp4"), None)], tmp_path, single_output=tmp_path / "clip.png")


def test_outputs_up_to_3px_larger_are_cropped_as_pytorch_examples_models_need():
    frames = np.full((1, 5, 6, 3), 100, np.uint8)
    output = np.zeros((1, 3, 8, 8), np.float32)  # a non-cropping TransformerNet on a 5x6 input
    output[:, :, :5, :6] = 200.0
    assert (finish_output(frames, output) == 200).all()


def test_images_of_all_different_sizes_are_not_held_to_the_end(tmp_path, monkeypatch):
    import pyfast.runtime.stylize as stylize
    from pyfast.data import write_image

    rng = np.random.default_rng(0)
    files = []
    for i in range(20):  # 20 sizes, none repeated: no batch ever fills
        path = write_image(tmp_path / "in" / f"{i:02d}.png", rng.integers(0, 256, (16 + i, 16, 3), dtype=np.uint8))
        files.append((path, tmp_path / "in"))
    reads = []
    real_read = stylize.read_image
    monkeypatch.setattr(stylize, "read_image", lambda path: reads.append(path) or real_read(path))
    reads_at_each_run = []

    class CountingEngine(FakeEngine):
        def run(self, x):
            reads_at_each_run.append(len(reads))
            return super().run(x)

    stats = stylize.stylize_images(Stylizer(CountingEngine(), StylizeOptions(batch_size=4, max_size=None)), files,
                                   tmp_path / "out", progress=False)
    assert len(stats.outputs) == 20 and max(reads_at_each_run) == 20
    assert reads_at_each_run[0] == 9  # the ninth waiting image (2 x batch size + 1) sends one through


def test_stderr_muting_survives_a_closed_stderr_and_two_threads(monkeypatch):
    import os
    import sys
    import threading
    import time

    from pyfast.runtime.stylize import _stderr_muted

    before = os.readlink("/proc/self/fd/2")

    def mute():
        with _stderr_muted():
            time.sleep(0.01)  # overlapping blocks, which restored each other's copy without the lock

    threads = [threading.Thread(target=mute) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert os.readlink("/proc/self/fd/2") == before  # not left pointing at /dev/null
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, 2>&- : nothing to flush
    with _stderr_muted():
        pass


@pytest.mark.parametrize("reported, expected", [(24.0, 24.0), (0.0, 30.0), (-1.0, 30.0), (float("nan"), 30.0)])
def test_frame_rate_falls_back_where_the_capture_reports_none(reported, expected):
    from pyfast.runtime.stylize import frame_rate

    class Capture:
        def get(self, prop):
            return reported

    assert frame_rate(Capture(), 30.0) == expected


def test_a_videos_pixel_aspect_ratio_is_read(anamorphic_clip, av1_clip, ffmpeg):
    import subprocess
    from fractions import Fraction

    from pyfast.runtime.stylize import VideoReader, pixel_aspect

    with VideoReader(anamorphic_clip) as video:
        assert video.pixel_aspect == Fraction(8, 9) and pixel_aspect(video.capture) == Fraction(8, 9)
    turned = anamorphic_clip.with_name("turned.mp4")  # a phone's portrait recording: shown a quarter turned
    subprocess.run([ffmpeg, "-v", "error", "-display_rotation", "90", "-i", str(anamorphic_clip), "-c", "copy",
                    str(turned)], check=True)
    with VideoReader(turned) as video:  # OpenCV turns the frames upright: their pixels are 9:8 now
        assert (video.width, video.height, video.pixel_aspect) == (36, 48, Fraction(9, 8))
    with VideoReader(av1_clip, ffmpeg) as video:  # decoded by FFmpeg: its capture reports it too
        assert type(video.capture).__name__ == "FFmpegCapture"
        assert video.pixel_aspect == pixel_aspect(video.capture) == 1


@pytest.mark.parametrize("num, den", [(0.0, 0.0), (8.0, 0.0), (float("nan"), 1.0), (-1.0, 1.0)])
def test_an_unknown_pixel_aspect_ratio_is_square(num, den):
    import cv2

    from pyfast.runtime.stylize import pixel_aspect

    class Capture:
        def get(self, prop):
            return {cv2.CAP_PROP_SAR_NUM: num, cv2.CAP_PROP_SAR_DEN: den}[prop]

    assert pixel_aspect(Capture()) == 1


def test_opencvs_writer_says_it_loses_non_square_pixels(tmp_path):
    from fractions import Fraction

    from pyfast.runtime.stylize import open_video_writer

    with pytest.warns(RuntimeWarning, match=r"out.avi: OpenCV writes square pixels, so it will look wider than its "
                                            r"source, whose pixels are 8:9 \(FFmpeg keeps them\)"):
        writer = open_video_writer(tmp_path / "out.avi", tmp_path / "out.avi", 12.0, 48, 36, None, Fraction(8, 9))
    writer.release()


@pytest.mark.parametrize("times, rate, ticks", [
    ([round(i / 29.97, 3) for i in range(300)], 30000 / 1001, list(range(300))),  # constant, ms-rounded stamps
    ([0.0, 0.083, 0.167, 0.25, 0.333, 1.333, 1.417], 12.0, [0, 1, 2, 3, 4, 16, 17]),  # a gap: frame 4 held
    ([0.0, 0.01, 0.02, 0.1, 0.2], 10.0, [0, 0, 0, 1, 2]),  # denser than the rate: two frames dropped
    ([None, None, None], 25.0, [0, 1, 2]),  # FFmpeg's pipe: no times
    ([0.0, 0.0, 0.0, 0.0], 25.0, [0, 1, 2, 3]),  # a file without timestamps
    ([0.5, 0.54, 0.5, 0.62], 25.0, [0, 1, 2, 5]),  # a time going back: the next tick, then on from there
    ([0, .04, .08, 0, .04, .08, .12], 25.0, [0, 1, 2, 3, 4, 5, 6]),  # two recordings joined, stamped from 0 each
    ([0, .04, 100.0, 100.04], 25.0, [0, 1, 2500, 2501]),  # a jump forward is held, as a pause would be
    ([1.5, 1.54, 1.58], 25.0, [0, 1, 2]),  # counted from the first frame (a late start)
])
def test_the_frame_clock_keeps_frames_at_their_times(times, rate, ticks):
    from pyfast.runtime.stylize import FrameClock

    clock = FrameClock(rate)
    assert [clock.tick(t) for t in times] == ticks


@pytest.mark.parametrize("times, stated, rate", [
    ([round(i / 30, 3) for i in range(32)], 30.0, 30.0),  # constant, stamps rounded to milliseconds
    ([i / 25 for i in range(32)], 25.0, 25.0),
    ([i / 60 for i in range(32)], 17.78, 60.0),  # an MP4 states its average: 60 fps, then 10 fps later on
    ([i / 30 for i in range(10)] + [1.0 + i / 30 for i in range(20)], 29.7, 30.0),  # a phone's: a gap, kept out
    ([i * 1.001 / 30 for i in range(32)], 25.0, 30000 / 1001),  # snapped to the common rate
    ([0.0, 0.1, 0.2], 10.0, 10.0),  # too few frames to tell
    ([i / 1000 for i in range(32)], 25.0, 25.0),  # 1000 fps stamps: not believed
    ([0.0] * 32, 25.0, 25.0),  # no timestamps
])
def test_the_rate_frames_are_stamped_at(times, stated, rate):
    from pyfast.runtime.stylize import stamped_rate

    assert stamped_rate(times, stated) == pytest.approx(rate)
