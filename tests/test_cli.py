import json
import subprocess
import sys

import pytest

from pyfast.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pyfast", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args", [[], ["info"], ["bench"], ["bench", "kernels"]])
def test_every_command_has_help(args):
    out = run_cli(*args, "--help")
    assert out.returncode == 0
    assert "usage: pyfast" in out.stdout


def test_info_prints_build_contract(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"version", "cuda_compiled", "cuda_archs", "openmp"} <= info.keys()


@pytest.mark.parametrize(
    "args, message",
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["bench", "kernels", "--repeats", "0"], "expected an integer >= 1, got 0"),
        (["bench", "kernels", "--warmup", "x"], "expected an integer, got 'x'"),
        (["bench", "kernels", "--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message):
    out = run_cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_cuda_benchmark_without_gpu_is_a_clean_error(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "kernels", "--device", "cuda", "--quick", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "pyfast bench kernels: error: device 'cuda' requested but torch sees no CUDA device"


def test_bench_kernels_quick_writes_json_and_markdown(tmp_path, capsys):
    json_path, md_path = tmp_path / "k.json", tmp_path / "k.md"
    args = ["bench", "kernels", "--quick", "--repeats", "2", "--warmup", "1", "--no-progress"]
    assert main([*args, "--json", str(json_path), "--markdown", str(md_path)]) == 0
    printed = capsys.readouterr().out
    assert "| gram_matrix tiny_a" in printed and "| total_variation" in printed
    report = json.loads(json_path.read_text())
    assert report["suite"] == "kernels" and len(report["cases"]) == 6
    assert md_path.read_text().startswith("Machine:")


@pytest.mark.parametrize("argv, prog", [
    (["stylize", "x.png", "-m", "mosaic", "--nope"], "pyfast stylize"),
    (["bench", "kernels", "--nope", "1"], "pyfast bench kernels"),
    (["models", "extra"], "pyfast models"),
])
def test_unrecognised_arguments_are_reported_by_their_subcommand(capsys, argv, prog):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"{prog}: error: unrecognized arguments: ")
