import pytest

from pyfast.zoo import get_style, resolve_model


def test_a_shipped_name_wins_over_a_folder_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mosaic").mkdir()
    assert resolve_model("mosaic") == get_style("mosaic").onnx


def test_paths_and_unknown_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.onnx").write_bytes(b"x")
    assert resolve_model("mine.onnx").resolve() == tmp_path / "mine.onnx"
    with pytest.raises(FileNotFoundError, match="no such model file"):
        resolve_model("missing.onnx")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        resolve_model("some/dir/model")
    with pytest.raises(ValueError, match="unknown style model"):
        resolve_model("no_such_style")


def test_export_loads_the_shipped_weights_despite_a_same_named_folder(tmp_path, monkeypatch):
    from pyfast.cli import _load_style_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "mosaic").mkdir()
    model, name = _load_style_model("mosaic")
    assert name == "mosaic" and model.width == 0.5


def test_a_folder_given_as_a_model_is_called_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder; give an .onnx file or a shipped model's name"):
        resolve_model(str(tmp_path))
