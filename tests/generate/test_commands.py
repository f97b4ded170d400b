import numpy as np
import pytest

from pyfast import cli
from pyfast.data import read_image
from pyfast.generate.commands import add_commands
from pyfast.generate.zoo import ZOO_GENERATE_DIR, get_generative, list_generative, resolve_generative


@pytest.fixture
def pyfast_cli(monkeypatch, capsys):
    """Runs ``pyfast ARGV`` through cli.main (the generator commands added if cli.py does not add them yet)."""
    build = cli.build_parser

    def build_with_generate():
        parser = build()
        commands = next(a for a in parser._actions if isinstance(getattr(a, "choices", None), dict))
        if "sample" not in commands.choices:
            add_commands(commands)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_with_generate)

    def run(*argv):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse errors
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.mark.parametrize("kind", ["dcgan", "vae"])
def test_sample_with_the_shipped_model_writes_a_grid(pyfast_cli, tmp_path, kind):
    code, out, err = pyfast_cli("sample", kind, "-n", 6, "--nrow", 3, "-o", tmp_path / "grid.png", "--seed", 1)
    assert code == 0, err
    assert "wrote" in out and f"6 {kind} samples" in out
    grid = read_image(tmp_path / "grid.png").rgb
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2, 3)
    assert grid.std() > 10  # pictures, not a blank canvas


def test_interpolation_grid(pyfast_cli, tmp_path):
    code, out, err = pyfast_cli("sample", "vae", "-n", 8, "--nrow", 4, "--interpolate", "-o", tmp_path / "i.png")
    assert code == 0, err
    assert "interpolation frames" in out
    assert read_image(tmp_path / "i.png").size == (2 * 30 + 2, 4 * 30 + 2)


def test_sample_pixelcnn_with_the_shipped_model(pyfast_cli, tmp_path):
    if not (ZOO_GENERATE_DIR / "pixelcnn.pt").is_file():
        pytest.skip("no shipped PixelCNN in this checkout")
    code, _, err = pyfast_cli("sample", "pixelcnn", "-n", 4, "-o", tmp_path / "p.png", "--no-progress")
    assert code == 0, err
    assert read_image(tmp_path / "p.png").size == (2 * 30 + 2, 2 * 30 + 2)
    code, out, err = pyfast_cli("eval-gen", "pixelcnn", "-n", 8)
    assert code == 0, err
    assert "nats/image" in out and "bits/dim" in out


def test_sample_pixelcnn_naive_method_draws_the_cached_samplers_images(pyfast_cli, tmp_path):
    if not (ZOO_GENERATE_DIR / "pixelcnn.pt").is_file():
        pytest.skip("no shipped PixelCNN in this checkout")
    pixels = {}
    for method in ("cached", "naive"):
        code, out, err = pyfast_cli("sample", "pixelcnn", "-n", 2, "--seed", 3, "--method", method,
                                    "-o", tmp_path / f"{method}.png", "--no-progress")
        assert code == 0, err
        assert f"{method} sampler" in out
        pixels[method] = read_image(tmp_path / f"{method}.png").rgb
    assert pixels["cached"].std() > 0
    np.testing.assert_array_equal(pixels["cached"], pixels["naive"])


def test_train_export_sample_and_evaluate_a_vae(pyfast_cli, tmp_path):
    run = tmp_path / "run"
    code, out, err = pyfast_cli("train-gen", "vae", "--steps", 2, "--train-size", 16, "--batch-size", 8, "--width", 4,
                                "--latent-dim", 3, "--out-dir", run, "--export", "--no-progress")
    assert code == 0, err
    assert (run / "vae.pt").is_file() and (run / "vae.onnx").is_file() and "max abs error" in out
    for model in ("vae.pt", "vae.onnx"):
        code, _, err = pyfast_cli("sample", "vae", "-n", 2, "--model", run / model, "-o", tmp_path / f"{model}.png")
        assert code == 0, err
    code, out, err = pyfast_cli("eval-gen", "vae", "--model", run / "vae.pt", "-n", 8)
    assert code == 0, err
    assert "ELBO" in out and "nats/image" in out


@pytest.mark.parametrize("argv, message", [
    (["sample", "gan"], "invalid choice: 'gan'"),
    (["sample", "dcgan", "-n", "0"], "expected an integer >= 1, got 0"),
    (["sample", "dcgan", "--model", "missing.onnx"], "no such model file"),
    (["sample", "pixelcnn", "--interpolate"], "needs a latent space"),
    (["sample", "dcgan", "-n", "100000"], "expected an integer <= 4096"),
    (["sample", "vae", "-n", "4", "--nrow", "100", "--interpolate"], "2..n frames per row"),
    (["sample", "dcgan", "--interpolate", "-n", "4", "--model", str(ZOO_GENERATE_DIR / "vae.onnx")], "is not a dcgan-generator"),
    (["train-gen", "vae", "--seed", "-1"], "expected an integer >= 0"),
    (["eval-gen", "dcgan"], "no likelihood"),
    (["train-gen", "vae", "--data", "no/such/folder", "--no-progress"], "no such folder"),
])
def test_bad_input_is_one_line_and_status_2(pyfast_cli, argv, message):
    code, _, err = pyfast_cli(*argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [["sample", "pixelcnn", "-n", "1"], ["sample", "vae", "-n", "1"], ["eval-gen", "vae", "-n", "2"]])
def test_an_empty_model_file_is_one_line_and_status_2(pyfast_cli, tmp_path, argv):
    (tmp_path / "empty.pt").touch()
    code, _, err = pyfast_cli(*argv, "--model", tmp_path / "empty.pt")
    assert code == 2
    assert "is empty, not a PyTorch checkpoint" in err and err.count("\n") == 1


def test_empty_data_folder(pyfast_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = pyfast_cli("train-gen", "dcgan", "--data", tmp_path / "empty", "--no-progress")
    assert code == 2 and "no images found" in err


def test_zoo_lookup():
    kinds = [e.kind for e in list_generative()]
    assert {"dcgan", "vae"} <= set(kinds)
    entry = get_generative("vae")
    assert entry.weights.is_file() and entry.onnx.is_file() and "heldout_elbo_nats" in entry.card
    assert entry.weights.stat().st_size < 3 * 2**20 and entry.onnx.stat().st_size < 3 * 2**20
    assert resolve_generative("dcgan", suffix=".pt") == get_generative("dcgan").weights
    with pytest.raises(ValueError, match="unknown generative model 'gan'"):
        get_generative("gan")
    with pytest.raises(ValueError, match="suffix"):
        resolve_generative("vae", suffix=".pth")
    assert np.isfinite(entry.card["heldout_elbo_nats"]["elbo"])
