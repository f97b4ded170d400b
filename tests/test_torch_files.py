import pytest
import torch

from pyfast._torch_files import load_torch_file


def test_loads_a_state_dict_without_running_code(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"w": torch.arange(3.0)}, path)
    assert torch.equal(load_torch_file(path)["w"], torch.arange(3.0))


@pytest.mark.parametrize("content, message", [
    (b"", "is empty, not a PyTorch checkpoint"),
    (b"hello, not a checkpoint", "is not a PyTorch checkpoint"),
    (b"PK\x03\x04 truncated zip", "is not a PyTorch checkpoint"),
])
def test_files_that_are_not_checkpoints_get_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        load_torch_file(path)
    assert "\n" not in str(info.value)


def test_pickled_objects_are_refused_with_advice(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match="weights_only=True.*state_dict"):
        load_torch_file(path)


def test_a_missing_file_is_named_as_the_caller_asks(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such checkpoint: .*gone.pt"):
        load_torch_file(tmp_path / "gone.pt", what="checkpoint")


@pytest.mark.parametrize("device, message", [
    ("bogus", "map_location 'bogus' is not a device"),
    ("meta", "map_location 'meta' would load no weights"),
    ("cpu:3", "map_location 'cpu:3': the CPU takes no device index"),
    pytest.param("mps", "map_location 'mps' is not a device here",
                 marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="an MPS device is here")),
    pytest.param("cuda", "map_location 'cuda': there is no CUDA device here",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")),
])
def test_a_bad_map_location_is_named_rather_than_the_file(tmp_path, device, message):
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    with pytest.raises(ValueError, match=message):
        load_torch_file(tmp_path / "ok.pt", map_location=device)
    assert load_torch_file(tmp_path / "ok.pt")["w"].sum() == 2
