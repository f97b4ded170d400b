import json

import numpy as np
import pytest
import torch
from torch import nn

from pyfast.data.glyphs import CLASS_NAMES, make_glyphs
from pyfast.models import create_model, list_models
from pyfast.models.classifier import (CARD_PATH, INPUT_SIZE, LAYERS, MEAN, ONNX_PATH, STD, WEIGHTS_PATH, GlyphNet,
                                      load_glyphnet, read_card)

TEST_SEED = 777  # neither the training (1) nor the held-out (2) seed of the recipe
MARGIN = 0.05  # 300 pictures: the accuracy's standard error is about 1.5 points at 95 %


def _to_batch(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_glyphnet_shapes_and_named_layers():
    model = GlyphNet()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, len(CLASS_NAMES))
    assert model(torch.randn(1, 3, 40, 48)).shape == (1, len(CLASS_NAMES))  # global pooling: any size >= 16
    modules = dict(model.named_modules())
    for friendly, name in LAYERS.items():
        assert name in modules, friendly
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 4 and not any(r.inplace for r in relus)
    assert GlyphNet(num_classes=5)(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_glyphnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        GlyphNet(num_classes=0)
    with pytest.raises(ValueError, match="channels"):
        GlyphNet(channels=(8, 0))


def test_registry_builds_glyphnet():
    assert "glyphnet" in list_models()
    assert isinstance(create_model("glyphnet"), GlyphNet)
    pretrained = create_model("glyphnet", pretrained=True)
    assert not pretrained.training


def test_shipped_files_are_small_and_load_weights_only():
    assert WEIGHTS_PATH.stat().st_size < 2 * 1024 * 1024
    state = torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True)
    assert set(state) == set(GlyphNet().state_dict())


def test_card_matches_the_model():
    card = read_card()
    assert card == json.loads(CARD_PATH.read_text(encoding="utf-8"))
    assert tuple(card["classes"]) == CLASS_NAMES
    assert tuple(card["mean"]) == MEAN and tuple(card["std"]) == STD and tuple(card["size"]) == INPUT_SIZE
    assert card["held_out_n"] >= 2000 and card["held_out_seed"] != card["train_seed"]
    assert 0.9 <= card["held_out_accuracy"] <= 1.0
    assert card["parameters"] == sum(p.numel() for p in GlyphNet().parameters())
    assert "export/train_classifier.py" in card["recipe"]


def test_shipped_classifier_accuracy_on_fresh_pictures():
    images, labels = make_glyphs(300, seed=TEST_SEED)
    model = load_glyphnet()
    with torch.no_grad():
        predicted = model(_to_batch(images)).argmax(1).numpy()
    accuracy = float((predicted == labels).mean())
    assert accuracy >= max(0.9, read_card()["held_out_accuracy"] - MARGIN), accuracy


def test_load_glyphnet_returns_fresh_copies():
    a, b = load_glyphnet(), load_glyphnet()
    with torch.no_grad():
        a.classifier.bias.add_(1.0)
    assert not torch.equal(a.classifier.bias, b.classifier.bias)


def test_onnx_export_matches_pytorch_with_dynamic_batch():
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(ONNX_PATH), providers=["CPUExecutionProvider"])
    x = _to_batch(make_glyphs(3, seed=TEST_SEED + 1)[0])
    with torch.no_grad():
        expected = load_glyphnet()(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
