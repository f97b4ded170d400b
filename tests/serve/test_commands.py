"""The serve/webcam/export-triton commands through a parser built as pyfast.cli builds its own."""


import pytest

from pyfast.cli import _Parser
from pyfast.serve.commands import add_commands, add_export_triton

from ..helpers import read_frames
from ..runtime.test_webcam import make_video


def parse(argv):
    parser = _Parser(prog="pyfast")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_commands(commands)
    export = commands.add_parser("export")
    add_export_triton(export.add_subparsers(dest="target", parser_class=_Parser))
    return parser.parse_args(argv)


def test_webcam_headless_on_a_video_file(tmp_path, capsys):
    source = make_video(tmp_path / "in.avi", frames=12)
    args = parse(["webcam", "--video", str(source), "-m", "starry", "--out", str(tmp_path / "out.mp4"),
                  "--no-window", "--max-size", "32"])
    assert args.run(args) == 0
    assert "stylised 12 of 12 frame(s)" in capsys.readouterr().out
    assert len(read_frames(tmp_path / "out.mp4")) == 12


@pytest.mark.parametrize("flags, codecs", [([], ["aac"]), (["--no-sound"], [])])
def test_webcam_keeps_a_videos_sound_unless_told_not_to(tmp_path, ffmpeg, flags, codecs):
    from pyfast.runtime.soundtrack import audio_codecs

    from ..runtime.test_soundtrack import clip

    source = clip(tmp_path / "tone.mp4", ffmpeg, video="libx264")
    args = parse(["webcam", "--video", str(source), "-m", "mosaic", "--out", str(tmp_path / "out.mp4"),
                  "--no-window", "--max-size", "32", *flags])
    assert args.run(args) == 0
    assert audio_codecs(tmp_path / "out.mp4", ffmpeg) == codecs


def test_webcam_takes_a_pth_checkpoint_as_stylize_does(tmp_path, capsys):
    from pyfast.zoo import get_style

    source = make_video(tmp_path / "in.avi", frames=3)
    args = parse(["webcam", "--video", str(source), "-m", str(get_style("mosaic").weights), "--out",
                  str(tmp_path / "out.avi"), "--no-window", "--max-size", "32"])
    assert args.run(args) == 0
    assert "stylised 3 of 3 frame(s)" in capsys.readouterr().out


def test_webcam_max_size_under_the_models_minimum_names_the_option(tmp_path):
    from pyfast._cli import UsageError

    args = parse(["webcam", "--video", str(tmp_path / "in.avi"), "-m", "mosaic", "--max-size", "3", "--no-window",
                  "--out", str(tmp_path / "out.avi")])
    with pytest.raises(UsageError, match="--max-size must be 0 \\(no limit\\) or at least 5, got 3"):
        args.run(args)


def test_webcam_needs_somewhere_to_put_frames():
    args = parse(["webcam", "--video", "x.avi", "-m", "mosaic", "--no-window"])
    with pytest.raises(ValueError, match="--out"):
        args.run(args)


def test_export_triton_command(tmp_path, capsys):
    args = parse(["export", "triton", "mosaic", "starry", "-o", str(tmp_path / "repo"), "--kind", "cpu", "--instances", "2"])
    assert args.run(args) == 0
    assert "wrote 2 model(s)" in capsys.readouterr().out
    assert "KIND_CPU" in (tmp_path / "repo" / "mosaic" / "config.pbtxt").read_text()


def test_serve_refuses_a_public_address_without_a_token(monkeypatch):
    monkeypatch.delenv("PYFAST_TOKEN", raising=False)
    args = parse(["serve", "--host", "0.0.0.0"])
    with pytest.raises(ValueError, match="token"):
        args.run(args)


@pytest.mark.parametrize("argv", [["serve", "--max-batch", "0"], ["webcam", "--camera", "0", "--video", "a.avi", "-m", "x"],
                                  ["export", "triton", "-o", "r"]])
def test_bad_arguments_exit_2(argv):
    with pytest.raises(SystemExit) as info:
        parse(argv)
    assert info.value.code == 2


def test_serve_refuses_a_broken_model_before_the_server_starts(tmp_path, monkeypatch):
    (tmp_path / "broken.onnx").write_text("not a model")
    started = []
    monkeypatch.setattr("uvicorn.Server.run", lambda *a, **k: started.append(True))
    args = parse(["serve", "--models", str(tmp_path), "--port", "0"])
    with pytest.raises(ValueError, match="broken.onnx"):
        args.run(args)
    assert not started


@pytest.mark.parametrize("option, value", [("--max-delay-ms", "inf"), ("--max-delay-ms", "nan"), ("--timeout", "inf")])
def test_serve_refuses_unbounded_delays_and_timeouts(option, value):
    args = parse(["serve", option, value])
    with pytest.raises(ValueError, match="must be in"):
        args.run(args)


def test_serve_names_a_port_in_use_before_loading_anything():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = parse(["serve", "--port", str(taken.getsockname()[1])])
        with pytest.raises(OSError, match=r"cannot listen on 127.0.0.1:\d+: Address already in use"):
            args.run(args)


def test_the_address_is_announced_after_the_models_load_with_the_real_port(monkeypatch):
    import pyfast.serve.server as server
    from pyfast.serve.config import ServeConfig

    announced = []
    monkeypatch.setattr(server, "load_models", lambda config: (_ for _ in ()).throw(ValueError("bad.onnx is broken")))
    with pytest.raises(ValueError, match="bad.onnx is broken"):
        server.run_server(ServeConfig(port=0), announce=announced.append)
    assert announced == []  # a model that fails to load is the only line, not after a banner
    sock, url = server.listening_socket("127.0.0.1", 0)
    with sock:
        assert url == f"http://127.0.0.1:{sock.getsockname()[1]}" and not url.endswith(":0")


def test_a_folder_of_generator_models_is_refused_at_start():
    from pyfast.serve.models import ModelStore
    from pyfast.zoo import ZOO_DIR

    store = ModelStore(ZOO_DIR / "generate")
    with pytest.raises(ValueError, match=r"is not a style model: it maps z .* and the service stylises"):
        store.load_all()


@pytest.mark.parametrize("command", [["webcam", "--video", "{junk}", "-m", "mosaic", "--out", "{out}", "--no-window"],
                                     ["stylize", "{junk}", "-m", "mosaic", "-o", "{out}", "--no-progress"]])
def test_an_unreadable_video_is_one_line_of_pyfast_not_ffmpegs_log(tmp_path, command):
    import subprocess
    import sys

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    argv = [part.format(junk=junk, out=tmp_path / "out.mp4") for part in command]
    result = subprocess.run([sys.executable, "-m", "pyfast", *argv], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"pyfast {command[0]}: error: {junk} is not a readable video")
