import pytest

from pyfast._files import replaced_on_success


def test_replaces_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    with replaced_on_success(target) as temporary:
        assert temporary.parent == target.parent and temporary.suffix == ".onnx"
        temporary.write_text("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError, match="verification failed"):
        with replaced_on_success(target) as temporary:
            temporary.write_text("half-written")
            raise RuntimeError("verification failed")
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


def test_interrupted_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(KeyboardInterrupt):
        with replaced_on_success(target) as temporary:
            temporary.write_bytes(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
