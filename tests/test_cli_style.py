"""The style-transfer commands end to end, on small generated images and a short video."""

import contextlib
import os
import shutil
import subprocess
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

from pyfast.cli import main
from pyfast.data import read_image, write_image
from pyfast.models import TransformerNet
from pyfast.style import save_model
from tests.helpers import describe_media, first_part, read_frames

pytestmark = pytest.mark.filterwarnings("ignore:no VGG-16 weights given")


def written(path, data):
    path.write_bytes(data)
    return path


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pyfast", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    torch.manual_seed(0)
    model = TransformerNet(width=0.25)
    with torch.no_grad():
        model.deconv3.conv2d.bias.add_(128)
    pth = save_model(model, root / "tiny.pth")
    assert main(["export", "style", str(pth), "-o", str(root / "tiny.onnx")]) == 0
    return root


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    write_image(folder / "a.png", rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
    write_image(folder / "b.jpg", rng.integers(0, 256, (40, 52, 3), dtype=np.uint8))
    write_image(folder / "sub" / "c.png", rng.integers(0, 256, (33, 21, 3), dtype=np.uint8),
                alpha=np.full((33, 21), 100, np.uint8))
    from PIL import Image
    Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8), "L").save(folder / "gray.png")
    return folder


def test_models_lists_the_shipped_styles(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "| mosaic" in out and "| starry" in out


def test_export_prints_the_parity_error(model_files, capsys):
    assert main(["export", "style", str(model_files / "tiny.pth"), "-o", str(model_files / "again.onnx"), "--opset", "17"]) == 0
    out = capsys.readouterr().out
    assert "max abs error on the 0-255 scale" in out and "97x131" in out


@pytest.mark.parametrize("flags, graph", [([], "depth-to-space"), (["--no-rewrite"], "as written")])
def test_export_rewrites_the_output_convolution_unless_told_not_to(model_files, flags, graph):
    import onnx

    path = model_files / f"graph{len(flags)}.onnx"
    assert main(["export", "style", str(model_files / "tiny.pth"), "-o", str(path), *flags]) == 0
    proto = onnx.load(str(path))
    assert graph in {p.key: p.value for p in proto.metadata_props}["pyfast.graph"]
    assert any(n.op_type == "DepthToSpace" for n in proto.graph.node) == (not flags)


def test_stylize_folder_keeps_layout_sizes_and_alpha(model_files, photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stylize", str(photos), "-m", str(model_files / "tiny.onnx"), "-o", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "stylised 4 frame(s) into 4 file(s)" in printed and "frames/s" in printed
    assert read_image(out / "a.png").size == (40, 52)
    c = read_image(out / "sub" / "c.png")
    assert c.size == (33, 21) and c.alpha is not None and (c.alpha == 100).all()
    assert read_image(out / "gray.png").rgb.shape == (20, 30, 3)


def test_stylize_single_image_with_options_and_a_pth_model(model_files, photos, tmp_path):
    target = tmp_path / "one.png"
    assert main(["stylize", str(photos / "a.png"), "-m", str(model_files / "tiny.pth"), "-o", str(target),
                 "--strength", "0.5", "--preserve-color", "--max-size", "26", "--no-progress"]) == 0
    assert read_image(target).size == (20, 26)


def test_stylize_fp16_stays_close_to_fp32(model_files, photos, tmp_path):
    for flag, name in (([], "fp32.png"), (["--fp16"], "fp16.png")):
        assert main(["stylize", str(photos / "a.png"), "-m", str(model_files / "tiny.onnx"), "-o", str(tmp_path / name),
                     "--no-progress", *flag]) == 0
    a = read_image(tmp_path / "fp32.png").rgb.astype(int)
    b = read_image(tmp_path / "fp16.png").rgb.astype(int)
    assert np.abs(a - b).max() <= 4


def test_stylize_fp16_accepts_a_model_exported_as_fp16(model_files, photos, tmp_path):
    half = tmp_path / "half.onnx"
    assert main(["export", "style", str(model_files / "tiny.pth"), "-o", str(half), "--fp16", "--no-verify"]) == 0
    for flags in ([], ["--fp16"]):
        target = tmp_path / f"out{len(flags)}.png"
        assert main(["stylize", str(photos / "a.png"), "-m", str(half), "-o", str(target), "--no-progress", *flags]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "out0.png").rgb, read_image(tmp_path / "out1.png").rgb)


def test_stylize_with_a_shipped_model(photos, tmp_path):
    assert main(["stylize", str(photos / "a.png"), "-m", "mosaic", "-o", str(tmp_path / "m.png"), "--no-progress"]) == 0
    assert read_image(tmp_path / "m.png").size == (40, 52)


def test_stylize_runs_the_fused_path_on_the_cpu_unless_told_not_to(photos, tmp_path, capsys):
    from pyfast.runtime import Engine
    from pyfast.zoo import get_style

    if Engine(get_style("mosaic").onnx, providers="cpu").fused_unavailable:  # a CPU without AVX2
        pytest.skip("no fused path on this CPU")
    pictures = {}
    for flags, backend in (([], "(CPUExecutionProvider + pyfast fused kernels)"), (["--no-fused"], "(CPUExecutionProvider)")):
        out = tmp_path / f"{len(flags)}.png"
        assert main(["stylize", str(photos / "a.png"), "-m", "mosaic", "-o", str(out), "--provider", "cpu",
                     "--no-progress", *flags]) == 0
        assert capsys.readouterr().out.rstrip().endswith(backend)
        pictures[len(flags)] = read_image(out).rgb.astype(int)
    assert np.abs(pictures[0] - pictures[1]).max() <= 1  # the same picture, to rounding


def test_stylize_video_keeps_frame_rate_and_size(model_files, tmp_path):
    import cv2

    source = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 12.0, (48, 36))
    for i in range(10):
        writer.write(np.full((36, 48, 3), i * 20, np.uint8))
    writer.release()
    target = tmp_path / "styled.avi"
    assert main(["stylize", str(source), "-m", str(model_files / "tiny.onnx"), "-o", str(target), "--no-progress"]) == 0
    capture = cv2.VideoCapture(str(target))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (48, 36)
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 10


@pytest.mark.parametrize(
    "make, extra, message",
    [
        (lambda d: d / "missing.jpg", [], "no such file or folder"),
        (lambda d: "", [], "an input path is empty"),
        (lambda d: written(d / "corrupt.jpg", b"\xff\xd8\xff garbage"), [], "is not a readable image"),
        (lambda d: written(d / "notes.txt", b"x"), [], "unsupported file type '.txt'"),
        (lambda d: write_image(d / "zero.png", np.zeros((3, 3, 3), np.uint8)), [], "needs at least 5x5"),
        (lambda d: write_image(d / "big.png", np.zeros((60, 80, 3), np.uint8)), ["--max-size", "50", "--oversize", "error"], "over the max size of 50"),
        (lambda d: write_image(d / "ok.png", np.zeros((8, 8, 3), np.uint8)), ["-o", "{tmp}/afile/x.png"], "afile exists and is not a folder"),
        (lambda d: write_image(d / "ok.png", np.zeros((8, 8, 3), np.uint8)), ["-o", "{tmp}"], "would overwrite an input"),
        (lambda d: write_image(d / "ok.png", np.zeros((8, 8, 3), np.uint8)), ["-o", "{tmp}/ok.avi"], "images go to image files"),
    ],
)
def test_stylize_bad_inputs_one_line_error(model_files, tmp_path, make, extra, message):
    path = make(tmp_path)
    (tmp_path / "afile").write_text("a file where a folder is expected")
    extra = [arg.format(tmp=tmp_path) for arg in extra]
    result = cli("stylize", path, "-m", model_files / "tiny.onnx", "-o", tmp_path / "o", "--no-progress", *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_export_refuses_to_overwrite_the_model_it_exports(model_files, tmp_path):
    victim = tmp_path / "victim.pth"
    victim.write_bytes((model_files / "tiny.pth").read_bytes())
    result = cli("export", "style", victim, "-o", victim)
    assert result.returncode == 2 and "is the model being exported" in result.stderr
    assert victim.read_bytes() == (model_files / "tiny.pth").read_bytes()


def test_export_refuses_to_overwrite_a_shipped_models_weights(model_files, tmp_path, monkeypatch, capsys):
    import dataclasses

    import pyfast.zoo

    weights = tmp_path / "mosaic.pth"
    weights.write_bytes((model_files / "tiny.pth").read_bytes())
    entry = dataclasses.replace(pyfast.zoo.get_style("mosaic"), weights=weights)
    monkeypatch.setattr(pyfast.zoo, "get_style", lambda name: entry)
    assert main(["export", "style", "mosaic", "-o", str(weights), "--no-verify"]) == 2
    assert "is the model being exported" in capsys.readouterr().err
    assert weights.read_bytes() == (model_files / "tiny.pth").read_bytes()


def test_export_no_verify_summary_has_no_empty_reason(model_files, tmp_path, capsys):
    assert main(["export", "style", str(model_files / "tiny.pth"), "-o", str(tmp_path / "m.onnx"), "--no-verify"]) == 0
    assert capsys.readouterr().out.strip().endswith("not verified")


def test_stylize_folder_skips_bad_files_writes_the_rest_and_fails(model_files, photos, tmp_path):
    written(photos / "b_corrupt.png", b"not a png")  # sorts between good files of one batch
    write_image(photos / "tiny.png", np.zeros((3, 4, 3), np.uint8))
    result = cli("stylize", photos, "-m", model_files / "tiny.onnx", "-o", tmp_path / "out", "--no-progress",
                 "--batch-size", "2")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any("skipped" in line and "b_corrupt.png" in line and "not a readable image" in line for line in lines)
    assert any("skipped" in line and "tiny.png is 4x3 pixels" in line for line in lines)
    assert lines[-1].endswith("2 of 6 input(s) not stylised (listed above)")
    for name in ("a.png", "b.jpg", "sub/c.png", "gray.png"):
        assert (tmp_path / "out" / name).is_file(), name


def test_stylize_folder_with_an_unwritable_output_writes_the_others(model_files, photos, tmp_path):
    written(photos / "a_bad.png", b"garbage")
    (tmp_path / "out" / "b.jpg").mkdir(parents=True)  # a folder where one output file should go
    result = cli("stylize", photos, "-m", model_files / "tiny.onnx", "-o", tmp_path / "out", "--no-progress",
                 "--batch-size", "1")
    assert result.returncode == 2
    assert "a_bad.png is not a readable image" in result.stderr
    assert f"cannot write {tmp_path / 'out' / 'b.jpg'} (Is a directory)" in result.stderr
    assert ".partial-" not in result.stderr and "[Errno" not in result.stderr
    for name in ("a.png", "sub/c.png", "gray.png"):
        assert (tmp_path / "out" / name).is_file(), name


def test_stylize_output_file_or_folder(model_files, photos, tmp_path):
    model = model_files / "tiny.onnx"
    result = cli("stylize", photos / "a.png", photos / "b.jpg", "-m", model, "-o", tmp_path / "one.png", "--no-progress")
    assert result.returncode == 2 and "names one file but there are 2 inputs" in result.stderr
    assert not (tmp_path / "one.png").exists()
    (tmp_path / "dir.png").mkdir()  # a folder whose name looks like a file: written into
    assert main(["stylize", str(photos / "a.png"), "-m", str(model), "-o", str(tmp_path / "dir.png"), "--no-progress"]) == 0
    assert read_image(tmp_path / "dir.png" / "a.png").size == (40, 52)
    new_folder = f"{tmp_path / 'new.png'}/"  # a trailing slash names a folder
    assert main(["stylize", str(photos / "a.png"), str(photos / "b.jpg"), "-m", str(model), "-o", new_folder,
                 "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "new.png").iterdir()) == ["a.png", "b.jpg"]


def test_stylize_too_small_at_max_size_names_file_and_option(model_files, tmp_path):
    write_image(tmp_path / "strip.png", np.zeros((8, 400, 3), np.uint8))
    result = cli("stylize", tmp_path / "strip.png", "-m", model_files / "tiny.onnx", "-o", tmp_path / "o.png",
                 "--max-size", "100", "--no-progress")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "strip.png is 400x8 pixels" in result.stderr and "max size of 100" in result.stderr


def _video(path, fourcc="MJPG", size=(48, 36), frames=6):
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 12.0, size)
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc}"
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), i * 30, np.uint8))
    writer.release()
    return path


def test_failed_video_run_keeps_the_earlier_output(model_files, tmp_path):
    source = _video(tmp_path / "clip.avi")
    target = tmp_path / "styled.avi"
    assert main(["stylize", str(source), "-m", str(model_files / "tiny.onnx"), "-o", str(target), "--no-progress"]) == 0
    before = target.read_bytes()
    result = cli("stylize", source, "-m", model_files / "tiny.onnx", "-o", target, "--max-size", "6", "--no-progress")
    assert result.returncode == 2 and "under the style model's minimum" in result.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "styled.avi"]  # no partial file left


def test_a_video_without_frames_is_an_error_and_keeps_the_earlier_output(model_files, tmp_path):
    empty = _video(tmp_path / "empty.avi", frames=0)
    target = tmp_path / "styled.avi"
    target.write_bytes(b"an earlier result")
    result = cli("stylize", empty, "-m", model_files / "tiny.onnx", "-o", target, "--no-progress")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert target.read_bytes() == b"an earlier result"


def test_stylize_webm_round_trip(model_files, tmp_path):
    import cv2

    probe = cv2.VideoWriter(str(tmp_path / "probe.webm"), cv2.VideoWriter_fourcc(*"VP80"), 12.0, (16, 16))
    if not probe.isOpened():
        pytest.skip("this OpenCV build has no VP8 writer")
    probe.release()
    source = _video(tmp_path / "in.webm", "VP80")
    result = cli("stylize", source, "-m", model_files / "tiny.onnx", "-o", tmp_path / "out", "--no-progress")
    assert result.returncode == 0 and "VP80" not in result.stderr, result.stderr  # OpenCV's fallback notice muted
    capture = cv2.VideoCapture(str(tmp_path / "out" / "in.webm"))
    assert capture.isOpened() and capture.read()[0]


def test_stylize_keeps_a_videos_sound_unless_told_not_to(model_files, tmp_path, ffmpeg):
    from pyfast.runtime.soundtrack import audio_codecs
    from tests.runtime.test_soundtrack import clip

    source = clip(tmp_path / "tone.mp4", ffmpeg)
    for suffix, codec in ((".mp4", "aac"), (".webm", "opus")):
        result = cli("stylize", source, "-m", model_files / "tiny.onnx", "-o", tmp_path / f"styled{suffix}", "--no-progress")
        assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
        assert audio_codecs(tmp_path / f"styled{suffix}", ffmpeg) == [codec]
    result = cli("stylize", source, "-m", model_files / "tiny.onnx", "-o", tmp_path / "silent.mp4", "--no-sound",
                 "--no-progress")
    assert result.returncode == 0 and audio_codecs(tmp_path / "silent.mp4", ffmpeg) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4", "styled.mp4", "styled.webm", "tone.mp4"]


@pytest.mark.parametrize("size, suffix, codec", [
    ((48, 36), ".mp4", "h264"), ((48, 36), ".mkv", "h264"), ((48, 36), ".mov", "h264"),
    ((48, 36), ".avi", "mjpeg"), ((48, 36), ".webm", "vp9"),
])
def test_stylize_encodes_every_container_through_ffmpeg(model_files, tmp_path, ffmpeg, size, suffix, codec):
    import cv2

    source = _video(tmp_path / "clip.avi", size=size)
    target = tmp_path / f"styled{suffix}"
    assert main(["stylize", str(source), "-m", str(model_files / "tiny.onnx"), "-o", str(target), "--no-progress"]) == 0
    described = describe_media(ffmpeg, target)
    assert f"Video: {codec}" in described and f"{size[0]}x{size[1]}" in described
    capture = cv2.VideoCapture(str(target))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 6


def test_stylize_reads_a_codec_opencv_cannot_decode_through_ffmpeg(model_files, tmp_path, av1_clip, ffmpeg):
    result = cli("stylize", av1_clip, "-m", model_files / "tiny.onnx", "-o", tmp_path / "out.mp4", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "stylised 12 frame(s)" in result.stdout and "48x36" in describe_media(ffmpeg, tmp_path / "out.mp4")


@pytest.mark.parametrize("suffix, codec", [(".mp4", "h264"), (".webm", "vp9"), (".avi", "mjpeg")])
def test_an_odd_sized_video_keeps_its_size(model_files, tmp_path, ffmpeg, suffix, codec):
    source = tmp_path / "odd.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=47x35:rate=12:duration=0.5",
                    "-c:v", "libx264", "-pix_fmt", "yuv444p", str(source)], check=True)
    target = tmp_path / f"out{suffix}"
    assert main(["stylize", str(source), "-m", str(model_files / "tiny.onnx"), "-o", str(target), "--no-progress"]) == 0
    described = describe_media(ffmpeg, target)
    assert f"Video: {codec}" in described and "47x35" in described  # OpenCV's writers would make it 46x34


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".avi", ".webm"])
def test_a_video_with_non_square_pixels_keeps_them(model_files, tmp_path, ffmpeg, anamorphic_clip, suffix):
    import cv2

    from pyfast.runtime.stylize import pixel_aspect

    target = tmp_path / f"out{suffix}"
    assert main(["stylize", str(anamorphic_clip), "-m", str(model_files / "tiny.onnx"), "-o", str(target),
                 "--no-progress"]) == 0
    aspect = pixel_aspect(cv2.VideoCapture(str(target)))
    if suffix == ".webm":  # WebM stores a display width in whole pixels: 43, so 43:48
        assert aspect == pytest.approx(8 / 9, rel=0.01)
    else:
        assert aspect == Fraction(8, 9)


def test_a_video_cut_short_is_stylised_with_a_warning(model_files, tmp_path, ffmpeg):
    whole = tmp_path / "whole.mkv"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x36:rate=12:duration=4",
                    "-c:v", "libx264", str(whole)], check=True)
    cut = first_part(whole)
    model = model_files / "tiny.onnx"
    with pytest.warns(RuntimeWarning, match=r"cut_whole.mkv is damaged or cut short \(FFmpeg: File ended prematurely\); "
                                            r".*out.mkv holds the (\d+) frame\(s\) that could be read") as caught:
        assert main(["stylize", str(cut), "-m", str(model), "-o", str(tmp_path / "out.mkv"), "--no-progress"]) == 0
    written = len(read_frames(tmp_path / "out.mkv"))
    assert 0 < written < 48 and f"holds the {written} frame(s)" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the whole file: no warning
        assert main(["stylize", str(whole), "-m", str(model), "-o", str(tmp_path / "all.mkv"), "--no-progress"]) == 0


def test_a_video_that_cannot_be_opened_says_what_ffmpeg_found(model_files, tmp_path, ffmpeg):
    whole = tmp_path / "whole.mp4"  # its index last, as FFmpeg writes by default
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=48x36:rate=12:duration=2",
                    "-c:v", "libx264", str(whole)], check=True)
    result = cli("stylize", first_part(whole), "-m", model_files / "tiny.onnx", "-o", tmp_path / "o.mp4")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("cut_whole.mp4 is not a readable video (FFmpeg: moov atom not found)")


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])  # an MP4 states its average rate (6.5 fps here), MKV 12
def test_a_variable_frame_rate_video_keeps_its_frames_at_their_times(model_files, tmp_path, ffmpeg, suffix):
    """13 frames over 2 s (a 12 fps clip with frames 5-15 cut out): written at 12 fps, the frame
    before the gap is held through it, so the stylised video lasts 2 s as its sound does (it
    used to be 13 frames at the stated rate: the pictures after the gap 0.9 s early at 12 fps)."""
    import cv2

    plain = tmp_path / "plain.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=size=48x36:rate=12:duration=2",  # a grey
                    "-vf", "geq=lum='16+N*9':cb=128:cr=128", "-c:v", "libx264", str(plain)], check=True)  # per frame
    gappy = tmp_path / f"gappy{suffix}"
    subprocess.run([ffmpeg, "-v", "error", "-i", str(plain), "-vf", "select='not(between(n,5,15))'",
                    "-fps_mode", "vfr", "-c:v", "libx264", str(gappy)], check=True)
    assert len(read_frames(gappy)) == 13
    out = tmp_path / f"out{suffix}"
    assert main(["stylize", str(gappy), "-m", str(model_files / "tiny.onnx"), "-o", str(out), "--no-progress",
                 "--strength", "0"]) == 0  # the content itself, to tell the frames apart
    frames, source = read_frames(out), read_frames(gappy)
    assert len(frames) == 24 and cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == 12

    def closest(frame):  # the source frame this one shows
        return int(np.argmin([np.abs(frame.astype(int) - s.astype(int)).mean() for s in source]))

    assert [closest(f) for f in frames] == [0, 1, 2, 3] + [4] * 12 + list(range(5, 13))


def test_a_max_size_under_the_models_minimum_names_the_option(model_files, photos, tmp_path):
    result = cli("stylize", photos / "a.png", "-m", model_files / "tiny.onnx", "-o", tmp_path / "o.png", "--max-size", "3")
    assert result.returncode == 2 and "--max-size must be 0 (no limit) or at least 5, got 3" in result.stderr


def test_stylize_without_ffmpeg_writes_a_silent_video_and_says_so(model_files, tmp_path, ffmpeg, monkeypatch):
    import cv2

    from pyfast.runtime import ffmpeg as ffmpeg_module
    from pyfast.runtime import soundtrack
    from tests.runtime.test_soundtrack import clip

    source = clip(tmp_path / "tone.mp4", ffmpeg)
    monkeypatch.setattr(ffmpeg_module, "find_ffmpeg", lambda: None)
    with pytest.warns(RuntimeWarning, match="styled.mp4 is written without the sound of .*tone.mp4, if it has any: "
                                            "no FFmpeg"):
        assert main(["stylize", str(source), "-m", str(model_files / "tiny.onnx"), "-o", str(tmp_path / "styled.mp4"),
                     "--no-progress"]) == 0
    assert cv2.VideoCapture(str(tmp_path / "styled.mp4")).read()[0]
    assert soundtrack.audio_codecs(tmp_path / "styled.mp4", ffmpeg) == []


def test_stylize_keeps_the_silent_video_when_ffmpeg_fails(model_files, tmp_path, ffmpeg, monkeypatch):
    from pyfast.runtime import soundtrack
    from tests.runtime.test_soundtrack import clip

    source = clip(tmp_path / "tone.mp4", ffmpeg)
    monkeypatch.setattr(soundtrack, "AUDIO_ENCODERS", {".mp4": ("no_such_encoder",)})
    monkeypatch.setattr(soundtrack, "_PLAYABLE", {".mp4": set()})  # copying is ruled out: only the bad encoder is left
    with pytest.warns(RuntimeWarning, match="styled.mp4 is written without sound: FFmpeg could not add the sound of "
                                            ".*tone.mp4 to .mp4 video: Unknown encoder 'no_such_encoder'"):
        assert main(["stylize", str(source), "-m", str(model_files / "tiny.onnx"), "-o", str(tmp_path / "styled.mp4"),
                     "--no-progress"]) == 0
    assert soundtrack.audio_codecs(tmp_path / "styled.mp4", ffmpeg) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["styled.mp4", "tone.mp4"]  # no partial file left


@pytest.mark.parametrize("script", ["#!/bin/sh\nexit 1\n", "echo no interpreter line\n"])
def test_an_ffmpeg_that_does_not_work_leaves_silent_videos_with_a_warning(model_files, tmp_path, ffmpeg, script):
    from pyfast.runtime.soundtrack import audio_codecs
    from tests.runtime.test_soundtrack import clip

    broken = tmp_path / "bin" / "ffmpeg"
    broken.parent.mkdir()
    broken.write_text(script)
    broken.chmod(0o755)
    sources = [clip(tmp_path / "a.mp4", ffmpeg), clip(tmp_path / "b.mp4", ffmpeg)]
    result = subprocess.run([sys.executable, "-m", "pyfast", "stylize", *map(str, sources), "-m",
                             str(model_files / "tiny.onnx"), "-o", str(tmp_path / "out"), "--no-progress"],
                            capture_output=True, text=True, env={**os.environ, "PYFAST_FFMPEG": str(broken)})
    assert result.returncode == 0, result.stderr
    for name in ("a.mp4", "b.mp4"):  # both written, silent, each with its warning
        assert f"out/{name} is written without sound" in result.stderr
        assert audio_codecs(tmp_path / "out" / name, ffmpeg) == []


def test_stylize_refuses_a_bad_ffmpeg_setting_before_any_work(model_files, tmp_path, monkeypatch):
    source = _video(tmp_path / "clip.avi")
    monkeypatch.setenv("PYFAST_FFMPEG", str(tmp_path / "nope"))
    result = cli("stylize", source, "-m", model_files / "tiny.onnx", "-o", tmp_path / "out.avi", "--no-progress")
    assert result.returncode == 2 and f"PYFAST_FFMPEG={tmp_path / 'nope'} is not an executable file" in result.stderr
    assert not (tmp_path / "out.avi").exists()
    silent = cli("stylize", source, "-m", model_files / "tiny.onnx", "-o", tmp_path / "out.avi", "--no-progress",
                 "--no-sound")  # FFmpeg encodes the pictures too: the setting is checked all the same
    assert silent.returncode == 2 and "PYFAST_FFMPEG=" in silent.stderr and not (tmp_path / "out.avi").exists()
    write_image(tmp_path / "in" / "photo.png", np.zeros((20, 20, 3), np.uint8))  # images are written before videos:
    shutil.copy(source, tmp_path / "in" / "clip.avi")  # the setting is checked before either
    mixed = cli("stylize", tmp_path / "in", "-m", model_files / "tiny.onnx", "-o", tmp_path / "mixed/", "--no-progress")
    assert mixed.returncode == 2 and "PYFAST_FFMPEG=" in mixed.stderr and not (tmp_path / "mixed").exists()


def test_stylize_rejects_non_onnx_and_wrong_rank_models(tmp_path, photos):
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"not onnx at all")
    result = cli("stylize", photos / "a.png", "-m", fake, "-o", tmp_path / "o.png", "--no-progress")
    assert result.returncode == 2 and "is not a valid ONNX model" in result.stderr
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "g",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3])])
    rank2 = tmp_path / "rank2.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(rank2))
    result = cli("stylize", photos / "a.png", "-m", rank2, "-o", tmp_path / "o.png", "--no-progress")
    assert result.returncode == 2 and "must be 2-D" in result.stderr
    result = cli("stylize", photos / "a.png", "-m", "no_such_style", "-o", tmp_path / "o.png")
    assert result.returncode == 2 and "unknown style model 'no_such_style'" in result.stderr
    from tests.runtime.test_engine import fixed_size_model

    result = cli("stylize", photos / "a.png", "-m", fixed_size_model(tmp_path / "fixed.onnx"), "-o", tmp_path / "o.png",
                 "--no-progress")
    assert result.returncode == 2 and "ONNX Runtime failed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_style_cli_end_to_end(tmp_path, photos):
    stripes = np.zeros((48, 48, 3), np.uint8)
    stripes[:, ::6] = 255
    write_image(tmp_path / "style.png", stripes)
    args = ["train-style", "--style", str(tmp_path / "style.png"), "--content-dir", str(photos), "--out-dir",
            str(tmp_path / "run"), "--image-size", "32", "--batch-size", "2", "--steps", "3", "--width", "0.3",  # 10/20/40 channels
            "--loss-width", "0.125", "--export", "--no-progress"]
    assert main(args) == 0
    assert (tmp_path / "run" / "style.pth").is_file() and (tmp_path / "run" / "style.onnx").is_file()


def test_demo_writes_contact_sheet_and_timings(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "frames/s at 640x480" in out
    sheet = read_image(tmp_path / "demo" / "contact_sheet.png")
    assert sheet.size[0] > 4 * 224 and sheet.size[1] > 2 * 224
    assert (tmp_path / "demo" / "timings.md").is_file()
    assert len(list((tmp_path / "demo").glob("*/*.jpg"))) >= 8


@pytest.mark.parametrize("flag, value, message", [
    ("--seed", "-1", "--seed: expected an integer >= 0"),
    ("--lr", "-1", "--lr: expected a number > 0"),
    ("--width", "0", "--width: expected a number > 0"),
    ("--loss-width", "nan", "--loss-width: expected a finite number"),
    ("--tv-weight", "-1", "--tv-weight: expected a number >= 0"),
    ("--content-weight", "nan", "--content-weight: expected a finite number"),
])
def test_train_style_rejects_bad_numbers_before_training(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["train-style", "--style", str(tmp_path / "s.png"), "--content-dir", str(tmp_path), flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_stylize_into_a_folder_inside_the_input_folder_runs_again(model_files, photos):
    for _ in range(2):  # the second run does not take the first run's outputs for inputs
        assert main(["stylize", str(photos), "-m", str(model_files / "tiny.onnx"), "-o", str(photos / "styled"),
                     "--no-progress"]) == 0
    assert sorted(p.relative_to(photos / "styled").as_posix() for p in (photos / "styled").rglob("*.*")) == [
        "a.png", "b.jpg", "gray.png", "sub/c.png"]


def test_stylize_the_same_file_twice_writes_it_once(model_files, photos, tmp_path):
    assert main(["stylize", str(photos / "a.png"), str(photos / "." / "a.png"), "-m", str(model_files / "tiny.onnx"),
                 "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.png"]


@pytest.mark.parametrize("extra, setup, message", [
    (["--distill-weight", "5"], None, "--distill-weight needs --teacher"),
    (["--name", "../escaped"], None, "name '../escaped' must be a plain file name"),
    (["--style", "{tmp}/tiny.png"], "tiny", "style image .*tiny.png is 4x3; it needs at least 16 pixels"),
    (["--content-dir", "{tmp}/junk", "--workers", "1"], "junk", r"no readable images in .*junk \(1 image file\(s\) tried\)"),
])
def test_train_style_one_line_errors_before_training(tmp_path, photos, capsys, extra, setup, message):
    import re

    write_image(tmp_path / "style.png", np.zeros((32, 32, 3), np.uint8))
    if setup == "tiny":
        write_image(tmp_path / "tiny.png", np.zeros((3, 4, 3), np.uint8))
    elif setup == "junk":
        written((tmp_path / "junk").mkdir() or tmp_path / "junk" / "x.png", b"not a png")
    args = ["train-style", "--style", str(tmp_path / "style.png"), "--content-dir", str(photos), "--out-dir",
            str(tmp_path / "run"), "--image-size", "32", "--steps", "1", "--width", "0.25", "--loss-width", "0.125",
            "--no-progress"] + [a.replace("{tmp}", str(tmp_path)) for a in extra]
    with pytest.warns(RuntimeWarning) if setup == "junk" else contextlib.nullcontext():
        assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "style.pth").exists()


@pytest.mark.parametrize("command", [
    ["train-style", "--style", "s.png", "--content-dir", ".", "--out-dir", "{file}"],
    ["demo", "--out", "{file}"],
    ["explain", "style", "s.png", "s.png", "-o", "{file}"],
])
def test_an_output_folder_that_is_a_file_is_an_argument_error(tmp_path, capsys, command):
    (tmp_path / "afile").write_text("a file")
    with pytest.raises(SystemExit) as exit_info:
        main([a.replace("{file}", str(tmp_path / "afile")) for a in command])
    assert exit_info.value.code == 2 and "afile exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "a file"


def _filled(command, **paths):
    """``command`` with each "{name}" in its arguments replaced by ``paths[name]``."""
    return [arg.format(**paths) for arg in command]


@pytest.mark.parametrize("command", [
    ["stylize", "{photos}", "-m", "{model}", "-o", "{file}/sub/"],
    ["demo", "--out", "{file}/sub"],
    ["explain", "saliency", "-o", "{file}/sub"],
])
def test_an_output_folder_that_cannot_be_made_fails_before_any_work(model_files, photos, tmp_path, capsys,
                                                                     monkeypatch, command):
    import importlib

    from pyfast.runtime.stylize import Stylizer

    def work(*args):
        raise AssertionError("work started")

    monkeypatch.setattr(Stylizer, "__call__", work)
    monkeypatch.setattr("pyfast.demo.run_demo", work)
    monkeypatch.setattr(importlib.import_module("pyfast.explain.saliency"), "saliency", work)  # the package's
    # name "saliency" is the function
    (tmp_path / "afile").write_text("a file")
    assert main(_filled(command, photos=photos, model=model_files / "tiny.onnx", file=tmp_path / "afile")) == 2
    err = capsys.readouterr().err
    assert f"cannot create the output folder {tmp_path / 'afile' / 'sub'}: {tmp_path / 'afile'} exists and is not a " \
           "folder" in err
    assert len(err.strip().splitlines()) == 1


def test_an_output_link_is_checked_where_it_points(model_files, photos, tmp_path, capsys):
    (tmp_path / "afile").write_text("a file")
    (tmp_path / "link.png").symlink_to(tmp_path / "afile" / "x.png")  # its folder is fine, its target's cannot be
    assert main(["stylize", str(photos / "a.png"), "-m", str(model_files / "tiny.onnx"), "-o", str(tmp_path / "link.png"),
                 "--no-progress"]) == 2
    assert f"cannot create the output folder {tmp_path / 'afile'}: " in capsys.readouterr().err
    (tmp_path / "link.png").unlink()
    (tmp_path / "link.png").symlink_to(tmp_path / "new" / "x.png")  # a link into a folder still to be made
    assert main(["stylize", str(photos / "a.png"), "-m", str(model_files / "tiny.onnx"), "-o", str(tmp_path / "link.png"),
                 "--no-progress"]) == 0
    assert read_image(tmp_path / "new" / "x.png").size == (40, 52)


@pytest.mark.parametrize("command", [
    ["stylize", "{bad}", "-m", "{model}", "-o", "{new}/"],
    ["explain", "saliency", "{bad}", "-o", "{new}"],
])
def test_a_failed_run_leaves_no_empty_output_folder(model_files, tmp_path, command):
    bad = written(tmp_path / "bad.png", b"not a png")
    assert main(_filled(command, bad=bad, model=model_files / "tiny.onnx", new=tmp_path / "new" / "deeper")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


@pytest.mark.parametrize("output, message", [
    ("m.png", "name an .onnx file"),
    ("{shipped}", "is a model shipped with pyfast"),
])
def test_export_style_output_must_be_a_new_onnx_file(model_files, capsys, output, message):
    from pyfast.zoo import get_style

    shipped = get_style("mosaic").onnx
    before = shipped.read_bytes()
    output = output.replace("{shipped}", str(shipped))
    assert main(["export", "style", str(model_files / "tiny.pth"), "-o", output, "--no-verify"]) == 2
    assert message in capsys.readouterr().err and shipped.read_bytes() == before


def test_stylize_output_with_an_unknown_suffix_is_an_error(model_files, photos, tmp_path, capsys):
    assert main(["stylize", str(photos / "a.png"), "-m", str(model_files / "tiny.onnx"), "-o",
                 str(tmp_path / "o.gif")]) == 2
    assert "pyfast does not write .gif files" in capsys.readouterr().err and not (tmp_path / "o.gif").exists()


def test_stylize_into_the_input_folder_itself_names_the_clash(model_files, photos, capsys):
    assert main(["stylize", str(photos), "-m", str(model_files / "tiny.onnx"), "-o", str(photos), "--no-progress"]) == 2
    assert "would overwrite an input" in capsys.readouterr().err
