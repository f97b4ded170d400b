"""pyfast: fast neural style transfer, generator networks and CNN visualisation.

The hot spots run in the compiled extension ``pyfast._C`` (C++/OpenMP and
CUDA); :mod:`pyfast.ops` exposes them as differentiable PyTorch functions.

Submodules are imported on first use, so ``import pyfast`` stays cheap and
does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._ext import build_info

__version__: str = build_info()["version"]

_SUBMODULES = ("ops", "models", "style", "onnx", "runtime", "data", "zoo", "demo", "bench", "cli")

__all__ = ["build_info", "__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'pyfast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
