"""3x3 convolutions of frozen layers (stride 1, padding 1) by Winograd F(2x2, 3x3).

A frozen loss network (VGG-16 in style transfer, Gatys, feature inversion)
needs only the forward convolution and the gradient with respect to its input.
For a 3x3, stride-1, padding-1 convolution that gradient is itself such a
convolution, with the weight's channel axes swapped and its taps flipped, so
both directions run the same CPU kernel. Winograd F(2x2, 3x3) computes each
2x2 block of outputs with 16 instead of 36 multiplications per (input, output)
channel pair; the weights are transformed once per frozen weight and cached.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from types import ModuleType

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._checks import check_image_batch
from ._dispatch import dlpack, kernel_for


@dataclass
class _PackedWeight:
    """The transformed forward weight of one frozen weight tensor, and (made on first
    use) the transformed weight of its grad-input convolution."""

    weight: torch.Tensor  # a detached alias of the caller's weight (no copy)
    version: int
    data_ptr: int
    forward: torch.Tensor
    backward: torch.Tensor | None = field(default=None)

    def matches(self, weight: torch.Tensor) -> bool:
        return weight._version == self.version and weight.data_ptr() == self.data_ptr


# id(weight) -> its packed forms; an entry goes when its weight is garbage-collected,
# and is rebuilt when the weight was modified in place or given new storage.
_cache: dict[int, _PackedWeight] = {}


def _pack(kernels: ModuleType, weight: torch.Tensor) -> torch.Tensor:
    """(Cout, Cin, 3, 3) -> the Winograd layout of the kernel: (16, ceil(Cout/8), Cin, 8)."""
    cout, cin = weight.shape[:2]
    rows = int(kernels.winograd_rows)
    packed = weight.new_empty((16, -(-cout // rows), cin, rows))
    kernels.winograd_transform_weight(dlpack(weight.contiguous()), dlpack(packed))
    return packed


def _packed_weight(kernels: ModuleType, weight: torch.Tensor) -> _PackedWeight:
    key = id(weight)
    entry = _cache.get(key)
    if entry is not None and entry.matches(weight):
        return entry
    detached = weight.detach()
    entry = _PackedWeight(detached, weight._version, weight.data_ptr(), _pack(kernels, detached))
    if key not in _cache:
        weakref.finalize(weight, _cache.pop, key, None)
    _cache[key] = entry
    return entry


def _run(kernels: ModuleType, x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None,
         out_channels: int) -> torch.Tensor:
    x = x.contiguous()
    out = x.new_empty((x.shape[0], out_channels, x.shape[2], x.shape[3]))
    kernels.winograd_conv3x3(dlpack(x), dlpack(packed), None if bias is None else dlpack(bias), dlpack(out))
    return out


class _FrozenConv3x3Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bias, entry: _PackedWeight, kernels):  # type: ignore[override]
        ctx.entry = entry
        ctx.kernels = kernels
        bias = None if bias is None else bias.detach().contiguous()
        return _run(kernels, x.detach(), entry.forward, bias, entry.weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        entry: _PackedWeight = ctx.entry
        if entry.backward is None:
            # grad_x = conv(grad_out, w') with w'[ci, co] = w[co, ci] flipped in both spatial axes.
            entry.backward = _pack(ctx.kernels, entry.weight.transpose(0, 1).flip(2, 3))
        grad_x = _run(ctx.kernels, grad_out, entry.backward, None, entry.weight.shape[1])
        return grad_x, None, None, None


def _check_weight(x: torch.Tensor, weight: object, bias: object) -> None:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 4 or tuple(weight.shape[2:]) != (3, 3):
        raise ValueError(f"weight must be (Cout, Cin, 3, 3), got shape {tuple(weight.shape)}")
    if weight.shape[0] == 0:
        raise ValueError(f"weight must have at least one output channel, got shape {tuple(weight.shape)}")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight has {weight.shape[1]} input channels but x has {x.shape[1]} (x: {tuple(x.shape)})")
    if weight.requires_grad:
        raise ValueError(
            "weight requires grad, but conv3x3_frozen computes no weight gradient; "
            "freeze it (weight.requires_grad_(False)) or use torch.nn.functional.conv2d"
        )
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be a torch.Tensor or None, got {type(bias).__name__}")
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}")
        if bias.requires_grad:
            raise ValueError("bias requires grad, but conv3x3_frozen computes no bias gradient; freeze it")


def conv3x3_frozen(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, padding=1)`` for a frozen 3x3 weight, differentiable in ``x``.

    On the CPU in float32 the forward and the input gradient both run the
    Winograd F(2x2, 3x3) kernel of ``pyfast._C`` (2.25x fewer multiplications
    than direct convolution; float32 results agree with ``F.conv2d`` to about
    1e-6 of the output's scale). The transformed weights are cached per weight
    tensor and rebuilt if it is modified in place. CUDA tensors, other dtypes,
    tensors on mismatched devices, and tracing/export use ``F.conv2d``.

    Args:
        x: (N, Cin, H, W), floating point; any memory layout (channels_last input
            gives a channels_last output, as ``F.conv2d`` does).
        weight: (Cout, Cin, 3, 3), must not require grad.
        bias: (Cout,) or None, must not require grad.

    Returns:
        (N, Cout, H, W), the dtype and device of ``x``.

    Raises:
        TypeError: ``x``, ``weight`` or ``bias`` is not a tensor, or ``x`` is not floating point.
        ValueError: a shape is wrong, or ``weight``/``bias`` requires grad.
    """
    check_image_batch(x)
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return F.conv2d(x, weight, bias, padding=1)
    _check_weight(x, weight, bias)
    fast = (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
        and (bias is None or (bias.device.type == "cpu" and bias.dtype == torch.float32))
    )
    kernels = kernel_for(x, "conv3x3_frozen") if fast else None
    if kernels is None:
        return F.conv2d(x, weight, bias, padding=1)
    out = _FrozenConv3x3Function.apply(x, bias, _packed_weight(kernels, weight), kernels)
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        out = out.contiguous(memory_format=torch.channels_last)
    return out
