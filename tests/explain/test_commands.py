"""`pyfast explain <method>` end to end on the shipped classifier, with short settings."""

import numpy as np
import pytest
import torch

from pyfast.cli import main
from pyfast.data import read_image, write_image
from pyfast.data.glyphs import sample_glyphs
from pyfast.models import GlyphNet

QUIET = ["--no-progress", "--scale", "1"]


def run(capsys, *argv):
    code = main(["explain", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def pngs(folder):
    return sorted(folder.glob("*.png"))


@pytest.mark.parametrize("method, options", [
    ("saliency", []),
    ("saliency", ["--smooth", "3"]),
    ("guided", ["--target", "star"]),
    ("occlusion", ["--window", "16", "--stride", "16"]),
    ("occlusion", ["--window", "16", "--stride", "16", "--backend", "onnxruntime"]),
    ("occlusion", ["--window", "16", "--stride", "16", "--backend", "incremental"]),
])
def test_attribution_methods_write_one_overlay_per_demo_picture(capsys, tmp_path, method, options):
    code, out, err = run(capsys, method, *options, *QUIET, "--npy", "-o", tmp_path)
    assert code == 0, err
    written = pngs(tmp_path)
    assert len(written) == 8
    maps = np.load(tmp_path / f"{method}.npy")
    assert maps.shape[0] == 8 and np.isfinite(maps).all() and np.abs(maps).max() > 0
    picture = read_image(written[0]).rgb
    assert picture.ndim == 3 and picture.std() > 0


def test_attribution_on_the_users_files_and_predicted_class(capsys, tmp_path):
    images, _ = sample_glyphs(2, seed=5)
    files = [write_image(tmp_path / f"in{i}.png", image) for i, image in enumerate(images)]
    code, _, err = run(capsys, "saliency", *files, *QUIET, "-o", tmp_path / "out")
    assert code == 0, err
    assert [p.name for p in pngs(tmp_path / "out")] == ["in0_saliency.png", "in1_saliency.png"]


def test_users_own_state_dict_with_its_preprocessing(capsys, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "mine.pt"
    torch.save(GlyphNet(num_classes=3).state_dict(), weights)
    image = write_image(tmp_path / "photo.png", (np.random.default_rng(0).random((40, 50, 3)) * 255).astype(np.uint8))
    code, _, err = run(capsys, "saliency", image, "--model", weights, "--arch", "glyphnet", "--size", "32",
                       "--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--classes", "a,b,c", *QUIET,
                       "-o", tmp_path / "out")
    assert code == 0, err
    assert read_image(tmp_path / "out" / "photo_saliency.png").rgb.shape[0] > 32


@pytest.mark.parametrize("method, options", [
    ("class-vis", ["--target", "3", "--count", "1", "--iterations", "5"]),
    ("fooling", ["--target", "circle", "--max-steps", "5"]),
    ("deepdream", ["--octaves", "2", "--steps", "2"]),
    ("invert", ["--iterations", "5", "--layer", "relu1"]),
    ("activations", ["--layer", "relu2", "--channels", "0", "1", "2"]),
    ("patches", ["--count", "24", "--k", "2", "--channels", "0", "1"]),
    ("neighbours", ["--count", "24", "--k", "2"]),
    ("embed", ["--count", "20", "--method", "pca"]),
])
def test_synthesis_and_feature_methods_write_pictures(capsys, tmp_path, method, options):
    code, out, err = run(capsys, method, *options, *QUIET, "-o", tmp_path)
    assert code == 0, err
    assert pngs(tmp_path), out
    assert "wrote" in out


def test_fooling_reports_the_perturbation(capsys, tmp_path):
    code, out, err = run(capsys, "fooling", "--target", "circle", "--max-steps", "50", *QUIET, "-o", tmp_path)
    assert code == 0, err
    lines = [line for line in out.splitlines() if "->" in line]
    assert len(lines) == 8 and all("L2" in line and "Linf" in line for line in lines)
    assert sum("-> circle" in line for line in lines) >= 6


@pytest.mark.parametrize("argv, message", [
    (["saliency", "missing.png"], "no such image"),
    (["saliency", "--target", "giraffe"], "unknown class 'giraffe'"),
    (["saliency", "--target", "99"], "out of range"),
    (["occlusion", "--window", "100"], "window"),
    (["deepdream", "--layer", "nope"], "no layer 'nope'"),
    (["saliency", "--model", "weights.pt"], "no such"),
    (["saliency", "--model", "{tmp}/empty.pt", "--arch", "glyphnet"], "is empty, not a PyTorch checkpoint"),
    (["saliency", "--mean", "0.5", "--std", "0.5"], "cannot take input of shape (1, 1, 64, 64)"),
    (["saliency", "--size", "8"], "cannot take input of shape (1, 3, 8, 8)"),
    (["saliency", "--std", "inf,1,1"], "std must be finite"),
])
def test_bad_requests_get_one_line_errors(capsys, tmp_path, argv, message):
    (tmp_path / "empty.pt").touch()
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    code, _, err = run(capsys, *argv, *QUIET, "-o", tmp_path)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["occlusion", "--stride", "0"], "expected an integer >= 1"),
    (["saliency", "--scale", "1000"], "expected an integer <= 16"),
    (["saliency", "--seed", "-1"], "expected an integer >= 0"),
    (["texture", "t.png", "--tv-weight", "nan"], "expected a finite number"),
    (["patches", "--count", "10000000"], "expected an integer <= 20000"),
])
def test_bad_option_values_are_refused_by_the_parser(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_long_comma_separated_class_list_is_names_not_a_path(capsys, tmp_path):
    names = ",".join(f"class_number_{i:02d}_name" for i in range(16))  # longer than a file name may be
    code, _, err = run(capsys, "saliency", "--classes", names, *QUIET, "-o", tmp_path)
    assert code == 0, err
    assert any("class_number_" in p.name for p in tmp_path.iterdir())


def test_embed_and_neighbours_take_pictures_of_different_sizes(capsys, tmp_path):
    from pyfast.data import write_image

    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 50), (64, 64), (70, 30)]):
        write_image(tmp_path / f"p{i}.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    code, _, err = run(capsys, "embed", str(tmp_path), "--method", "pca", *QUIET, "-o", tmp_path / "e")
    assert code == 0, err
    code, _, err = run(capsys, "neighbours", str(tmp_path / "p0.png"), "--gallery", str(tmp_path), "--k", "2",
                       *QUIET, "-o", tmp_path / "n")
    assert code == 0, err
