"""Total-variation regulariser (cs231n / Johnson et al.; Mahendran & Vedaldi's beta-TV)."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from .._checks import check_choice, check_non_negative
from . import reference
from ._checks import check_image_batch
from ._dispatch import dlpack, kernel_for, stream_of


class _TotalVariationFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, beta: float, eps: float, reduction: str, kernels):  # type: ignore[override]
        x = x.contiguous()
        per_image = x.new_empty((x.shape[0],))
        kernels.tv_forward(dlpack(x), dlpack(per_image), beta, eps, stream_of(x))
        ctx.save_for_backward(x)
        ctx.params = (beta, eps, reduction)
        ctx.kernels = kernels
        return reference.reduce_per_image(per_image, reduction, x.numel())

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        beta, eps, reduction = ctx.params
        weights = grad_out / x.numel() if reduction == "mean" else grad_out
        weights = weights.expand(x.shape[0]).contiguous()
        grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
        ctx.kernels.tv_backward(dlpack(x), dlpack(weights), dlpack(grad_x), beta, eps, stream_of(x))
        return grad_x, None, None, None, None


def total_variation(
    x: torch.Tensor, beta: float = 2.0, reduction: str = "sum", eps: float = 1e-8
) -> torch.Tensor:
    """Total variation of an image batch, fused in one pass forward and one backward.

    Sum over n, c, i, j of ``(dx^2 + dy^2)^(beta/2)`` with
    ``dx = x[n, c, i, j+1] - x[n, c, i, j]`` and ``dy = x[n, c, i+1, j] - x[n, c, i, j]``;
    a difference past the last row or column counts as 0. ``beta=2`` (default) is
    exactly the squared TV of cs231n and Johnson et al. For any other ``beta``
    (Mahendran & Vedaldi's R_{V^beta}), ``eps`` is added inside the power,
    ``(dx^2 + dy^2 + eps)^(beta/2)``, which keeps the gradient finite where the
    image is flat (each flat pixel then contributes ``eps^(beta/2)``).

    Args:
        x: images, (B, C, H, W), floating point; any memory layout.
        beta: exponent, finite and >= 0.
        reduction: "sum" (scalar), "mean" (scalar, the sum over the B*C*H*W terms
            divided by their number) or "none" (per-image sums, (B,)).
        eps: added inside the power for ``beta != 2``, >= 0.

    Returns:
        A scalar tensor, or (B,) for ``reduction="none"``; the dtype of ``x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad shape, ``beta``/``eps`` negative or not finite, unknown ``reduction``.
    """
    check_image_batch(x)
    beta = check_non_negative(beta, "beta")
    eps = check_non_negative(eps, "eps")
    check_choice(reduction, "reduction", reference.TV_REDUCTIONS)
    kernels = kernel_for(x, "total_variation")
    if kernels is None:
        return reference.total_variation(x, beta, reduction, eps)
    return _TotalVariationFunction.apply(x, beta, eps, reduction, kernels)


class TotalVariation(nn.Module):
    """Module form of :func:`total_variation`; forwards every option."""

    def __init__(self, beta: float = 2.0, reduction: str = "sum", eps: float = 1e-8) -> None:
        super().__init__()
        self.beta = check_non_negative(beta, "beta")
        self.eps = check_non_negative(eps, "eps")
        self.reduction = check_choice(reduction, "reduction", reference.TV_REDUCTIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return total_variation(x, beta=self.beta, reduction=self.reduction, eps=self.eps)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, reduction={self.reduction!r}, eps={self.eps}"
