"""Differentiable ops backed by the compiled kernels of ``pyfast._C``.

Each op comes as a function and an ``nn.Module`` (``gram_matrix`` /
``GramMatrix``, ``total_variation`` / ``TotalVariation``); their pure-PyTorch
formulations live in :mod:`pyfast.ops.reference`.
"""

from . import reference
from .gram import GramMatrix, gram_matrix
from .masked_conv import MaskedConv2d, masked_conv2d
from .occlusion import OcclusionGrid, occlude, occlusion_heatmap
from .tv import TotalVariation, total_variation
from .winograd import conv3x3_frozen

__all__ = [
    "GramMatrix",
    "MaskedConv2d",
    "OcclusionGrid",
    "TotalVariation",
    "conv3x3_frozen",
    "gram_matrix",
    "masked_conv2d",
    "occlude",
    "occlusion_heatmap",
    "reference",
    "total_variation",
]
