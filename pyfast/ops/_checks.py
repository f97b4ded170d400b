"""Argument checks shared by the ops: they name the argument and what it got."""

from __future__ import annotations

import numpy as np
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


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """Checks that ``value`` is one of ``choices``. Raises ValueError otherwise."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value  # type: ignore[return-value]


def check_non_negative(value: object, name: str) -> float:
    """``value`` as a float, checked to be a finite real number >= 0 (not a string).
    Raises ValueError otherwise."""
    return _finite_number(value, name, strictly_positive=False)


def check_positive(value: object, name: str) -> float:
    """``value`` as a float, checked to be a finite real number > 0 (not a string).
    Raises ValueError otherwise."""
    return _finite_number(value, name, strictly_positive=True)


def _finite_number(value: object, name: str, strictly_positive: bool) -> float:
    bound = "> 0" if strictly_positive else ">= 0"
    try:
        if isinstance(value, (str, bytes)):  # float("1e-3") would pass, and the string be used later
            raise TypeError
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number {bound}, got {value!r}") from None
    in_range = number > 0.0 if strictly_positive else number >= 0.0  # False for NaN
    if not in_range or number == float("inf"):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_int(value: object, name: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum`` (numpy integers accepted, bools not).

    Raises:
        ValueError: naming ``name`` and what it got.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        wanted = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return int(value)
