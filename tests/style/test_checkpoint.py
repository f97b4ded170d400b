import pytest
import torch

from pyfast.models import TransformerNet
from pyfast.style import load_checkpoint, save_model


def examples_checkpoint(path, width=1.0, with_running_stats=True):
    """A synthetic checkpoint in the pytorch/examples format, old-style running stats included."""
    torch.manual_seed(1)
    model = TransformerNet(width=width)
    state = model.state_dict()
    if with_running_stats:
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.InstanceNorm2d):
                state[f"{name}.running_mean"] = torch.zeros(module.num_features)
                state[f"{name}.running_var"] = torch.ones(module.num_features)
    torch.save(state, path)
    return model


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_loads_examples_checkpoints_with_running_stats(tmp_path, width):
    original = examples_checkpoint(tmp_path / "candy.pth", width)
    loaded = load_checkpoint(tmp_path / "candy.pth")
    assert loaded.width == width and not loaded.training
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), original.eval()(x))


def test_loads_ddp_prefixed_and_training_checkpoints(tmp_path):
    model = TransformerNet(width=0.25)
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / "ddp.pth")
    torch.save({"model": model.state_dict(), "optimizer": {}, "step": 3}, tmp_path / "ckpt.pt")
    for name in ("ddp.pth", "ckpt.pt"):
        loaded = load_checkpoint(tmp_path / name)
        assert torch.equal(loaded.state_dict()["deconv3.conv2d.bias"], model.state_dict()["deconv3.conv2d.bias"])


def test_save_model_round_trip_is_a_plain_state_dict(tmp_path):
    model = TransformerNet(width=0.5)
    path = save_model(model, tmp_path / "m.pth")
    state = torch.load(path, weights_only=True)
    assert set(state) == set(model.state_dict())


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(ValueError, match="is not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "text.pth")
    torch.save({"conv1.conv2d.weight": torch.zeros(32, 3, 9, 9)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="missing conv1.conv2d.bias"):
        load_checkpoint(tmp_path / "partial.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a TransformerNet checkpoint"):
        load_checkpoint(tmp_path / "list.pth")
    mixed = TransformerNet(width=0.5).state_dict()
    mixed["res1.conv1.conv2d.weight"] = torch.zeros(128, 128, 3, 3)  # a full-width layer in a half-width model
    torch.save(mixed, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match="not a TransformerNet checkpoint: size mismatch for res1.conv1.conv2d.weight"):
        load_checkpoint(tmp_path / "mixed.pth")


@pytest.mark.parametrize("width", [0.1, 0.3, 0.7])
def test_saved_models_of_any_width_load_back(tmp_path, width):
    model = TransformerNet(width=width)
    loaded = load_checkpoint(save_model(model, tmp_path / "m.pth"))
    assert loaded.width == model.width == round(32 * width) / 32  # what was built, not what was asked for
    x = torch.rand(1, 3, 20, 24) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_non_finite_weights_are_named(tmp_path):
    state = TransformerNet(width=0.25).state_dict()
    state["res2.conv1.conv2d.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(ValueError, match=r"nan.pth holds NaN or infinite weights \(res2.conv1.conv2d.weight\)"):
        load_checkpoint(tmp_path / "nan.pth")
