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


def occlude(x: torch.Tensor, grid, baseline: float | torch.Tensor = 0.0, first: int = 0,
            count: int | None = None) -> torch.Tensor:
    """Copies of x (C, H, W) with windows ``first .. first+count-1`` of ``grid`` (an
    :class:`pyfast.ops.occlusion.OcclusionGrid`) set to ``baseline`` over all channels.

    Returns:
        (count, C, H, W).
    """
    count = grid.count - first if count is None else count
    out = x.unsqueeze(0).repeat(count, 1, 1, 1)
    for p in range(count):
        top, bottom, left, right = grid.box(first + p)
        if isinstance(baseline, torch.Tensor):
            out[p, :, top:bottom, left:right] = baseline[:, top:bottom, left:right]
        else:
            out[p, :, top:bottom, left:right] = baseline
    return out


def occlusion_heatmap(drops: torch.Tensor, grid) -> torch.Tensor:
    """Per-pixel mean of ``drops`` (N, grid.count) over the windows of ``grid`` covering the pixel.

    Returns:
        (N, H, W).
    """
    sums = drops.new_zeros((drops.shape[0], *grid.size), dtype=torch.float64)
    counts = torch.zeros(grid.size, dtype=torch.float64, device=drops.device)
    for k in range(grid.count):
        top, bottom, left, right = grid.box(k)
        sums[:, top:bottom, left:right] += drops[:, k, None, None].double()
        counts[top:bottom, left:right] += 1
    return (sums / counts).to(drops.dtype)


MASK_TYPES = ("A", "B")


def causal_mask(kernel_size: int, mask_type: str, dtype=None, device=None) -> torch.Tensor:
    """PixelCNN's (k, k) mask: 1 on the taps before the centre in raster order, and
    on the centre for mask type "B"; 0 elsewhere."""
    c = kernel_size // 2
    mask = torch.zeros(kernel_size * kernel_size, dtype=dtype, device=device)
    mask[: c * kernel_size + c + (1 if mask_type == "B" else 0)] = 1
    return mask.view(kernel_size, kernel_size)


def masked_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, mask_type: str = "A"
) -> torch.Tensor:
    """Masked convolution as a dense one: ``F.conv2d(x, weight * mask, bias, padding=k // 2)``.

    Args:
        x: (B, Cin, H, W); weight: (Cout, Cin, k, k), k odd; bias: (Cout,) or None.
    Returns:
        (B, Cout, H, W).
    """
    k = weight.shape[-1]
    mask = causal_mask(k, mask_type, dtype=weight.dtype, device=weight.device)
    return F.conv2d(x, weight * mask, bias, padding=k // 2)
