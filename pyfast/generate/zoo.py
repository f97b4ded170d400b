"""The generative models shipped with pyfast, under ``pyfast/zoo/generate/``.

Each kind ("pixelcnn", "dcgan", "vae") ships ``<kind>.pt`` (weights for
:func:`pyfast.generate.training.load_model`), ``<kind>.onnx`` (the sampling network, except
for PixelCNN whose export is one forward pass) and ``<kind>.json`` (a card: configuration,
training data, held-out ELBO / NLL, how it was trained). ``export/train_generative.py``
rebuilds them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .training import KINDS

ZOO_GENERATE_DIR = Path(__file__).resolve().parent.parent / "zoo" / "generate"


@dataclass(frozen=True)
class GenerativeEntry:
    """One shipped model: its files and its card."""

    kind: str
    weights: Path
    onnx: Path
    card: dict[str, Any]


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown generative model {kind!r}; valid: {', '.join(KINDS)}")


def get_generative(kind: str) -> GenerativeEntry:
    """The shipped model of ``kind``.

    Raises:
        ValueError: unknown kind. FileNotFoundError: this installation ships no such model.
    """
    _check_kind(kind)
    card_path = ZOO_GENERATE_DIR / f"{kind}.json"
    weights = ZOO_GENERATE_DIR / f"{kind}.pt"
    if not card_path.is_file() or not weights.is_file():
        raise FileNotFoundError(f"no shipped {kind} model in {ZOO_GENERATE_DIR}; train one with `pyfast train-gen {kind}`")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    return GenerativeEntry(kind, weights, ZOO_GENERATE_DIR / card.get("onnx", f"{kind}.onnx"), card)


def list_generative() -> list[GenerativeEntry]:
    """The shipped models, in the order of :data:`~pyfast.generate.training.KINDS`."""
    return [get_generative(k) for k in KINDS if (ZOO_GENERATE_DIR / f"{k}.json").is_file()]


def resolve_generative(kind: str, spec: str | os.PathLike | None = None, suffix: str = ".onnx") -> Path:
    """The file to use for ``kind``: ``spec`` if given, else the shipped model's ``suffix`` file.

    Args:
        kind: "pixelcnn", "dcgan" or "vae".
        spec: a path given by the user, or None for the shipped model.
        suffix: ".onnx" or ".pt", which shipped file to return.

    Raises:
        ValueError: unknown kind or suffix. FileNotFoundError: ``spec`` does not exist, or nothing is shipped.
    """
    _check_kind(kind)
    if suffix not in (".onnx", ".pt"):
        raise ValueError(f"suffix must be '.onnx' or '.pt', got {suffix!r}")
    if spec is not None:
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"no such model file: {path}")
        return path
    entry = get_generative(kind)
    path = entry.onnx if suffix == ".onnx" else entry.weights
    if not path.is_file():
        raise FileNotFoundError(f"the shipped {kind} model has no {suffix} file ({path})")
    return path
