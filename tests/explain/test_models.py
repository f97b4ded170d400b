import pytest
import torch
from torch import nn

from pyfast.data.glyphs import CLASS_NAMES, sample_glyphs
from pyfast.explain import ModelSpec, get_layer
from pyfast.explain.models import build_arch, load_model_spec, load_state_dict
from pyfast.models.classifier import GlyphNet


def tiny_net() -> nn.Module:
    """Target of the "package.module:callable" arch test."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def not_a_module() -> int:
    return 3


@pytest.fixture
def glyphnet_state(tmp_path):
    torch.manual_seed(0)
    model = GlyphNet().eval()
    path = tmp_path / "glyph.pt"
    torch.save(model.state_dict(), path)
    return model, path


def test_default_spec_is_the_shipped_classifier():
    spec = load_model_spec()
    assert isinstance(spec, ModelSpec) and spec.name == "glyphnet"
    assert tuple(spec.class_names) == CLASS_NAMES
    assert spec.preprocessing.size == (64, 64)
    assert not spec.module.training
    for name in spec.layers.values():
        get_layer(spec.module, name)
    assert spec.layer("relu3") == "features.relu3"
    images, labels = sample_glyphs()
    with torch.no_grad():
        predicted = spec.module(spec.preprocessing.images_to_batch(list(images))).argmax(1).numpy()
    assert (predicted == labels).mean() >= 0.8
    assert load_model_spec("glyphnet").name == "glyphnet"


def test_state_dict_round_trip_with_wrappers_and_prefixes(glyphnet_state, tmp_path):
    model, _ = glyphnet_state
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    ddp = {"module." + k: v for k, v in model.state_dict().items()}
    for i, payload in enumerate([model.state_dict(), {"state_dict": ddp, "epoch": 3}, {"model": model.state_dict()}]):
        file = tmp_path / f"wrapped{i}.pth"
        torch.save(payload, file)
        spec = load_model_spec(file, arch="glyphnet")
        assert isinstance(spec.module, GlyphNet) and not spec.module.training
        assert spec.preprocessing.size == (64, 64) and spec.layers  # GlyphNet keeps its own defaults
        with torch.no_grad():
            torch.testing.assert_close(spec.module(x), expected)


def test_num_classes_follow_the_checkpoint_and_class_names(tmp_path):
    path = tmp_path / "five.pt"
    torch.save(GlyphNet(num_classes=5).state_dict(), path)
    spec = load_model_spec(path, arch="glyphnet", classes="a, b,c,d,e", size=32, mean=[0.5] * 3, std=[0.25] * 3)
    assert spec.class_names == ("a", "b", "c", "d", "e")
    assert spec.preprocessing.size == (32, 32) and spec.preprocessing.channels == 3
    with pytest.raises(ValueError, match=r"cannot take input of shape \(1, 1, 32, 32\)"):
        load_model_spec(path, arch="glyphnet", size=32, mean=[0.5], std=[0.25])
    names = tmp_path / "names.txt"
    names.write_text("one\ntwo\n\nthree\nfour\nfive\n")
    assert load_model_spec(path, arch="glyphnet", classes=names).class_names[-1] == "five"
    with pytest.raises(ValueError, match="3 names but the model has 5 outputs"):
        load_model_spec(path, arch="glyphnet", classes=["x", "y", "z"])
    with pytest.raises(FileNotFoundError, match="class-name file"):
        load_model_spec(path, arch="glyphnet", classes=str(tmp_path / "missing.txt"))


def test_module_callable_arch_uses_imagenet_defaults(tmp_path):
    reference = tiny_net()
    path = tmp_path / "tiny.pt"
    torch.save(reference.state_dict(), path)
    spec = load_model_spec(path, arch="tests.explain.test_models:tiny_net")
    assert spec.preprocessing.size == (224, 224)
    assert spec.preprocessing.mean == (0.485, 0.456, 0.406)
    assert spec.class_names == () and spec.name == "tiny"
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(spec.module(x), reference(x))


def test_missing_file_and_missing_arch(glyphnet_state, tmp_path):
    _, path = glyphnet_state
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_model_spec(tmp_path / "nope.pt", arch="glyphnet")
    with pytest.raises(ValueError, match="arch is required"):
        load_model_spec(path)


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("certainly not a checkpoint")
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        load_model_spec(text, arch="glyphnet")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_state_dict(tensor)
    whole = tmp_path / "whole.pt"
    torch.save(tiny_net(), whole)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_model_spec(whole, arch="glyphnet")


def test_key_mismatches_are_listed(glyphnet_state, tmp_path):
    model, _ = glyphnet_state
    state = model.state_dict()
    state.pop("classifier.bias")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"missing keys classifier\.bias.*unexpected keys extra\.weight"):
        load_model_spec(path, arch="glyphnet")
    narrow = tmp_path / "narrow.pt"
    torch.save(GlyphNet(channels=(8, 16, 32, 64)).state_dict(), narrow)
    with pytest.raises(ValueError, match=r"shape mismatches features\.conv1\.weight: checkpoint \(8, 3, 3, 3\)"):
        load_model_spec(narrow, arch="glyphnet")


def test_unknown_arch(glyphnet_state):
    _, path = glyphnet_state
    try:
        import torchvision  # noqa: F401
        hint = "not a torchvision model"
    except ImportError:
        hint = "torchvision .* is not installed"
    with pytest.raises(ValueError, match=hint):
        load_model_spec(path, arch="no_such_net")
    with pytest.raises(ValueError, match="cannot import"):
        build_arch("no_such_package.sub:factory")
    with pytest.raises(ValueError, match="has no attribute"):
        build_arch("tests.explain.test_models:missing")
    with pytest.raises(ValueError, match="not a torch.nn.Module"):
        build_arch("tests.explain.test_models:not_a_module")
    with pytest.raises(ValueError, match="shipped model"):
        load_model_spec(None, arch="resnet18")


def test_bad_preprocessing_arguments(glyphnet_state):
    _, path = glyphnet_state
    with pytest.raises(ValueError, match="size"):
        load_model_spec(path, arch="glyphnet", size=(0, 64))
    with pytest.raises(ValueError, match="mean and std"):
        load_model_spec(path, arch="glyphnet", mean=(0.5, 0.5), std=(0.2, 0.2))
