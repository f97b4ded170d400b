"""Pure-PyTorch formulations of the ops: the ground truth the kernels are tested
against, the baseline they are benchmarked against, and what runs while a model
is traced, scripted, compiled or exported to ONNX.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

TV_REDUCTIONS = ("sum", "mean", "none")


def gram_matrix(x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``G = F F^T`` (divided by ``C*H*W`` if ``normalize``), F = x viewed as (B, C, H*W).

    Args:
        x: (B, C, H, W).
    Returns:
        (B, C, C).
    """
    b, c, h, w = x.shape
    f = x.reshape(b, c, h * w)
    g = torch.bmm(f, f.transpose(1, 2))
    return g / (c * h * w) if normalize else g


def reduce_per_image(per_image: torch.Tensor, reduction: str, numel: int) -> torch.Tensor:
    """Applies a TV ``reduction`` to per-image sums (B,); "mean" divides by ``numel``."""
    if reduction == "none":
        return per_image
    total = per_image.sum()
    return total / numel if reduction == "mean" else total


def total_variation(
    x: torch.Tensor, beta: float = 2.0, reduction: str = "sum", eps: float = 1e-8
) -> torch.Tensor:
    """Total variation: sum over n, c, i, j of ``(dx^2 + dy^2)^(beta/2)``.

    ``dx = x[..., i, j+1] - x[..., i, j]`` and ``dy = x[..., i+1, j] - x[..., i, j]``,
    a difference past the last row/column counting as 0. For ``beta == 2`` this is
    the squared TV of cs231n and Johnson et al. (no eps); otherwise ``eps`` is added
    inside the power, ``(dx^2 + dy^2 + eps)^(beta/2)``, keeping the gradient finite.

    Args:
        x: (B, C, H, W).
    Returns:
        A scalar for "sum" and "mean" (mean over the B*C*H*W terms), (B,) for "none".
    """
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    if beta == 2.0:
        per_image = dx.pow(2).sum(dim=(1, 2, 3)) + dy.pow(2).sum(dim=(1, 2, 3))
    else:
        s = F.pad(dx.pow(2), (0, 1)) + F.pad(dy.pow(2), (0, 0, 0, 1))
        per_image = (s + eps).pow(beta / 2).sum(dim=(1, 2, 3))
    return reduce_per_image(per_image, reduction, x.numel())
