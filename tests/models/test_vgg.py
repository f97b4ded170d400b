import pytest
import torch

from pyfast.models import VGG16Features
from pyfast.models.vgg import LAYERS


def test_random_network_is_deterministic_and_returns_the_four_layers():
    a, b = VGG16Features(width=0.25, seed=3), VGG16Features(width=0.25, seed=3)
    x = torch.rand(1, 3, 32, 32) * 255
    fa, fb = a(x), b(x)
    assert list(fa) == list(LAYERS)
    assert [tuple(f.shape) for f in fa.values()] == [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8), (1, 128, 4, 4)]
    for k in fa:
        assert torch.equal(fa[k], fb[k])
    assert not any(p.requires_grad for p in a.parameters())


def test_loads_torchvision_format_weights(tmp_path):
    # A torchvision-format state dict: features.N.* plus a classifier that must be ignored.
    reference = VGG16Features(seed=7)
    state = {f"features.{k}": v for k, v in reference.features.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg16.pth"
    torch.save(state, path)
    loaded = VGG16Features(weights=path)
    assert loaded.pretrained
    x = torch.rand(1, 3, 16, 16) * 255
    torch.testing.assert_close(loaded(x)["relu4_3"], reference(x)["relu4_3"])


def test_bad_weights_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        VGG16Features(weights=tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is not a PyTorch checkpoint"):
        VGG16Features(weights=junk)
    partial = tmp_path / "partial.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, partial)
    with pytest.raises(ValueError, match="missing 'features.0.bias'"):
        VGG16Features(weights=partial)


def test_unknown_layer():
    with pytest.raises(ValueError, match="unknown VGG-16 layer"):
        VGG16Features(width=0.25)(torch.rand(1, 3, 8, 8), ("relu5_3",))
