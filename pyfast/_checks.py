"""Checks of plain arguments (numbers, choices) that name the argument and what it got; no torch."""

from __future__ import annotations

import numpy as np


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


def check_fraction(value: object, name: str) -> float:
    """``value`` as a float, checked to be a real number in [0, 1] (not a string).
    Raises ValueError otherwise."""
    try:
        number = _finite_number(value, name, strictly_positive=False)
        if number <= 1.0:
            return number
    except ValueError:
        pass
    raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None


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


MAX_SEED = 2**32 - 1  # what numpy's and torch's generators both take


def check_seed(value: object, name: str = "seed") -> int:
    """``value`` as an ``int`` in 0..MAX_SEED. Raises ValueError otherwise."""
    if check_int(value, name, 0) > MAX_SEED:
        raise ValueError(f"{name} must be in 0..{MAX_SEED}, got {value}")
    return int(value)  # type: ignore[arg-type]
