"""Gram matrix of feature maps, the statistic behind style and texture losses."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import reference
from ._checks import check_image_batch
from ._dispatch import dlpack, kernel_for, stream_of


class _GramFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float, kernels) -> torch.Tensor:  # type: ignore[override]
        x = x.contiguous()
        b, c = x.shape[:2]
        out = x.new_empty((b, c, c))
        kernels.gram_forward(dlpack(x), dlpack(out), scale, stream_of(x))
        ctx.save_for_backward(x)
        ctx.scale = scale
        ctx.kernels = kernels
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
        ctx.kernels.gram_backward(dlpack(x), dlpack(grad_out), dlpack(grad_x), ctx.scale, stream_of(x))
        return grad_x, None, None


def gram_matrix(x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Gram matrix ``G[b] = F[b] F[b]^T / (C*H*W)`` with ``F[b] = x[b].reshape(C, H*W)``.

    The compiled kernel computes one triangle of the symmetric result (half the
    FLOPs of ``torch.bmm``) and its backward ``dX = (dG + dG^T) F / (C*H*W)``
    in one pass over F. float16/bfloat16 inputs, and tracing/export, use
    :func:`pyfast.ops.reference.gram_matrix`.

    Args:
        x: feature maps, (B, C, H, W), floating point; any memory layout.
        normalize: divide by ``C*H*W`` (default); ``False`` returns ``F F^T``.

    Returns:
        (B, C, C), the dtype and device of ``x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` is not 4-D or has a zero-size dimension.
    """
    check_image_batch(x)
    b, c, h, w = x.shape
    kernels = kernel_for(x, "gram_matrix")
    if kernels is None:
        return reference.gram_matrix(x, normalize)
    scale = 1.0 / (c * h * w) if normalize else 1.0
    return _GramFunction.apply(x, scale, kernels)


class GramMatrix(nn.Module):
    """Module form of :func:`gram_matrix`: (B, C, H, W) -> (B, C, C)."""

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gram_matrix(x, normalize=self.normalize)

    def extra_repr(self) -> str:
        return f"normalize={self.normalize}"
