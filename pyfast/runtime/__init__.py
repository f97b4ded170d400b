"""Inference without torch: :class:`Engine` over ONNX Runtime, and image/video stylisation."""

from .engine import Engine, available_providers, resolve_providers

__all__ = ["Engine", "available_providers", "resolve_providers"]
