"""GlyphNet: the small CNN pyfast ships as its default classifier for the explain methods.

It classifies the 16 glyph classes of :mod:`pyfast.data.glyphs` (digits 0-9 and six shapes) in
64 x 64 RGB pictures. Four conv-BN-ReLU blocks (24, 48, 96, 192 channels), each followed by
2 x 2 max-pooling, then global average pooling and one linear layer. Every ReLU is its own
``nn.ReLU`` module (not in-place), so guided backprop, DeepDream and activation tools can hook
them. The trained weights live in ``pyfast/zoo/classifier`` (recipe: ``export/train_classifier.py``);
:func:`load_glyphnet` loads them.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.glyphs import CLASS_NAMES
from .registry import register_model

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo" / "classifier"
WEIGHTS_PATH = ZOO_DIR / "glyphnet.pt"
CARD_PATH = ZOO_DIR / "glyphnet.json"
ONNX_PATH = ZOO_DIR / "glyphnet.onnx"

# Input: RGB scaled to 0..1, then normalised with these per-channel statistics (measured on
# 4000 pictures of make_glyphs(seed=1), rounded); pictures are 64 x 64.
MEAN = (0.47, 0.47, 0.46)
STD = (0.28, 0.28, 0.28)
INPUT_SIZE = (64, 64)
CHANNELS = (24, 48, 96, 192)
# Friendly layer names -> module names (ModelSpec.layers): conv outputs and the ReLUs after them.
LAYERS = OrderedDict(
    [(f"{kind}{i}", f"features.{kind}{i}") for i in range(1, len(CHANNELS) + 1) for kind in ("conv", "relu")]
    + [("logits", "classifier")]
)


class GlyphNet(nn.Module):
    """Glyph classifier: (N, 3, 64, 64) normalised RGB -> (N, num_classes) class scores (logits).

    Modules are named ``features.conv1, features.bn1, features.relu1, features.pool1, ...,
    features.pool4``, then ``pool`` (global average) and ``classifier`` (linear). Any input size
    from 16 x 16 works (global pooling), but the shipped weights were trained at 64 x 64.

    Args:
        num_classes: number of outputs (16 for the shipped weights).
        channels: output channels of the four conv blocks.
        in_channels: input channels (3 for RGB).

    Raises:
        ValueError: ``num_classes`` or a channel count < 1.
    """

    def __init__(self, num_classes: int = len(CLASS_NAMES), channels: tuple[int, ...] = CHANNELS,
                 in_channels: int = 3) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if len(channels) < 1 or min(channels) < 1 or in_channels < 1:
            raise ValueError(f"channels and in_channels must be >= 1, got {channels} and {in_channels}")
        blocks: list[tuple[str, nn.Module]] = []
        previous = in_channels
        for i, width in enumerate(channels, start=1):
            blocks += [
                (f"conv{i}", nn.Conv2d(previous, width, kernel_size=3, padding=1, bias=False)),
                (f"bn{i}", nn.BatchNorm2d(width)),
                (f"relu{i}", nn.ReLU()),
                (f"pool{i}", nn.MaxPool2d(kernel_size=2)),
            ]
            previous = width
        self.features = nn.Sequential(OrderedDict(blocks))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(previous, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def read_card(path: str | Path = CARD_PATH) -> dict[str, Any]:
    """The shipped model's card (classes, mean, std, size, held-out accuracy, recipe...).

    Raises:
        FileNotFoundError: the card is not there (a checkout without the trained model).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GlyphNet card at {path}; build it with `python export/train_classifier.py`")
    return json.loads(path.read_text(encoding="utf-8"))


@register_model("glyphnet")
def glyphnet(pretrained: bool = False, **kwargs: Any) -> GlyphNet:
    """GlyphNet, with the shipped weights when ``pretrained`` (then in eval mode).

    Raises:
        FileNotFoundError: ``pretrained`` and the weights file is missing.
        ValueError: ``pretrained`` with a ``num_classes``/``channels`` that differ from the shipped model.
    """
    model = GlyphNet(**kwargs)
    if pretrained:
        if not WEIGHTS_PATH.is_file():
            raise FileNotFoundError(f"no GlyphNet weights at {WEIGHTS_PATH}; build them with `python export/train_classifier.py`")
        try:
            model.load_state_dict(torch.load(WEIGHTS_PATH, map_location="cpu", weights_only=True))
        except RuntimeError as exc:
            raise ValueError(f"the shipped GlyphNet weights do not fit GlyphNet({kwargs}): {exc}") from None
        model.eval()
    return model


def load_glyphnet() -> GlyphNet:
    """The shipped, trained GlyphNet in eval mode (a fresh copy on every call)."""
    return glyphnet(pretrained=True)


__all__ = ["CARD_PATH", "GlyphNet", "INPUT_SIZE", "LAYERS", "MEAN", "ONNX_PATH", "STD", "WEIGHTS_PATH",
           "glyphnet", "load_glyphnet", "read_card"]
