"""Networks and a small registry (``create_model`` / ``list_models``)."""

from .classifier import GlyphNet
from .registry import create_model, list_models, register_model
from .resnet import ResNet18
from .transformer import TransformerNet
from .vgg import VGG16Features

__all__ = ["GlyphNet", "ResNet18", "TransformerNet", "VGG16Features", "create_model", "list_models", "register_model"]
