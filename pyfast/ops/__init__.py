"""Differentiable ops backed by the compiled kernels of ``pyfast._C``.

Each op comes as a function and an ``nn.Module`` (``gram_matrix`` /
``GramMatrix``, ``total_variation`` / ``TotalVariation``); their pure-PyTorch
formulations live in :mod:`pyfast.ops.reference`.
"""

from . import reference
from .gram import GramMatrix, gram_matrix
from .tv import TotalVariation, total_variation

__all__ = ["GramMatrix", "TotalVariation", "gram_matrix", "reference", "total_variation"]
