"""Networks and a small registry (``create_model`` / ``list_models``)."""

from .registry import create_model, list_models, register_model
from .transformer import TransformerNet
from .vgg import VGG16Features

__all__ = ["TransformerNet", "VGG16Features", "create_model", "list_models", "register_model"]
