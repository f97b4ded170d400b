"""Argument checks shared by the ops: they name the argument and what it got."""

from __future__ import annotations

import torch


def check_image_batch(x: object, name: str = "x") -> torch.Tensor:
    """Checks that ``x`` is a non-empty floating-point (B, C, H, W) tensor.

    Raises:
        TypeError: ``x`` is not a tensor, or its dtype is not floating point.
        ValueError: ``x`` is not 4-D or has a zero-size dimension.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be 4-D (B, C, H, W), got shape {tuple(x.shape)}")
    # (under tracing the sizes are tensors; a traced graph is not checked per input)
    if not torch.jit.is_tracing() and 0 in x.shape:
        raise ValueError(f"{name} must not have a zero-size dimension, got shape {tuple(x.shape)}")
    return x
