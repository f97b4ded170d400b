"""Masked (causal) convolution of PixelCNN (van den Oord et al. 2016)."""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from .._checks import check_choice
from . import reference
from ._checks import check_image_batch
from ._dispatch import dlpack, kernel_for, stream_of

MASK_TYPES = reference.MASK_TYPES


class _MaskedConv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, mask_type: str, kernels):  # type: ignore[override]
        x = x.detach().contiguous()
        weight = weight.detach().contiguous()
        bias = None if bias is None else bias.detach().contiguous()
        b, _, h, w = x.shape
        out = x.new_empty((b, weight.shape[0], h, w))
        kernels.masked_conv_forward(
            dlpack(x), dlpack(weight), None if bias is None else dlpack(bias), dlpack(out), mask_type, stream_of(x)
        )
        ctx.save_for_backward(x, weight)
        ctx.mask_type = mask_type
        ctx.has_bias = bias is not None
        ctx.kernels = kernels
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_out = grad_out.contiguous()
        grad_x = torch.empty_like(x) if need_x else None
        grad_w = torch.empty_like(weight) if need_w else None
        grad_b = weight.new_empty(weight.shape[0]) if need_b and ctx.has_bias else None
        if need_x or need_w or grad_b is not None:
            ctx.kernels.masked_conv_backward(
                dlpack(x), dlpack(weight), dlpack(grad_out),
                *(None if t is None else dlpack(t) for t in (grad_x, grad_w, grad_b)),
                ctx.mask_type, stream_of(x),
            )
        return grad_x, grad_w, grad_b, None, None


def _check_weight(x: torch.Tensor, weight: object, bias: object) -> None:
    if torch.jit.is_tracing():  # sizes are tensors while tracing; a traced graph is not checked per input
        return
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 4 or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"weight must be 4-D (Cout, Cin, k, k) with a square kernel, got shape {tuple(weight.shape)}")
    if weight.shape[2] % 2 == 0:
        raise ValueError(f"weight must have an odd kernel size, got {weight.shape[2]}x{weight.shape[3]}")
    if weight.shape[0] == 0:
        raise ValueError(f"weight must have at least one output channel, got shape {tuple(weight.shape)}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"weight must have {x.shape[1]} input channels (those of x, shape {tuple(x.shape)}), "
            f"got shape {tuple(weight.shape)}"
        )
    if weight.dtype != x.dtype or weight.device != x.device:
        raise ValueError(
            f"weight must have the dtype and device of x ({x.dtype}, {x.device}), got {weight.dtype}, {weight.device}"
        )
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be a torch.Tensor or None, got {type(bias).__name__}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
        if bias.dtype != x.dtype or bias.device != x.device:
            raise ValueError(
                f"bias must have the dtype and device of x ({x.dtype}, {x.device}), got {bias.dtype}, {bias.device}"
            )


def masked_conv2d(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, mask_type: str = "A"
) -> torch.Tensor:
    """PixelCNN masked convolution: stride 1, zero padding ``k // 2``, output of the input's size.

    Mask "A" keeps the taps strictly before the window's centre in raster order
    (the rows above it and the taps left of it), mask "B" also the centre, so
    ``out[..., i, j]`` depends on ``x`` only at positions before ``(i, j)`` (A) or
    up to it (B). Equals ``F.conv2d(x, weight * mask, bias, padding=k // 2)``
    (:func:`pyfast.ops.reference.masked_conv2d`); the compiled kernels compute
    only the kept taps (about half the multiply-adds of the dense convolution),
    forward and backward. The weights of masked taps are ignored and get a zero
    gradient. float16/bfloat16 inputs, and tracing/export (a standard Conv with
    the masked weight), use the reference.

    Args:
        x: (B, Cin, H, W), floating point; any memory layout.
        weight: (Cout, Cin, k, k), k odd, the dtype and device of ``x``.
        bias: (Cout,) or None.
        mask_type: "A" or "B".

    Returns:
        (B, Cout, H, W), the dtype and device of ``x``.

    Raises:
        TypeError: ``x``, ``weight`` or ``bias`` is not a tensor, or ``x`` is not floating point.
        ValueError: ``x`` is not 4-D or has a zero-size dimension; ``weight`` is not
            (Cout, Cin, k, k) with k odd and Cin matching ``x``; ``bias`` is not (Cout,);
            dtypes or devices differ; ``mask_type`` is not "A" or "B".
    """
    check_image_batch(x)
    _check_weight(x, weight, bias)
    check_choice(mask_type, "mask_type", MASK_TYPES)
    kernels = kernel_for(x, "masked_conv2d")
    if kernels is None:
        return reference.masked_conv2d(x, weight, bias, mask_type)
    return _MaskedConv2dFunction.apply(x, weight, bias, mask_type, kernels)


class MaskedConv2d(nn.Conv2d):
    """Module form of :func:`masked_conv2d`: (B, Cin, H, W) -> (B, Cout, H, W).

    A ``nn.Conv2d`` (same parameters, initialisation and state dict) whose forward
    applies the causal mask; ``kernel_size`` must be odd.

    Raises:
        ValueError: even ``kernel_size`` or unknown ``mask_type``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, bias: bool = True
    ) -> None:
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")
        check_choice(mask_type, "mask_type", MASK_TYPES)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return masked_conv2d(x, self.weight, self.bias, self.mask_type)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_type={self.mask_type!r}"
