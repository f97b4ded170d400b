"""Exact rewrites of a style network's layers into forms ONNX Runtime runs faster.

Each rewrite computes the same function as the layer it replaces (up to float
rounding) and is applied to a copy of the model just before export; the
PyTorch model, its state dict and checkpoints are untouched.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..models.transformer import ConvLayer, TransformerNet

# ONNX Runtime's CPU convolution works on blocks of 16 output channels (its NCHWc
# layout with AVX-512), so a convolution with fewer outputs pays for 16.
_OUTPUT_BLOCK = 16


class PhaseConvLayer(nn.Module):
    """A :class:`ConvLayer` (reflection padding k//2, then a stride-1 k x k convolution)
    computed as a stride-``s`` convolution with ``s*s`` times the output channels,
    followed by depth-to-space.

    Output pixel ``(s*a + p, s*b + q)`` of the original layer is output channel
    ``(c, p, q)`` at ``(a, b)`` of the strided convolution, whose (k+s-1)-wide
    kernel holds the original kernel shifted by ``(p, q)`` and zeros elsewhere. The
    arithmetic grows by ((k+s-1)/k)^2 but a 3-channel output convolution fills
    ONNX Runtime's 16-channel blocks instead of wasting 13 of 16: for
    TransformerNet's 9 x 9 output layer at 640 x 480 this took ONNX Runtime from
    62.3 to 24.1 ms (16 -> 3 channels) and 123.6 to 43.9 ms (32 -> 3) with s = 2
    (``bench/scripts/phase_output_conv.py``, bench/RESULTS.md).

    Args:
        layer: the ConvLayer to replace (stride 1, odd kernel).
        stride: the phase factor ``s`` (2 by default; ``s*s*C_out`` should fill 16).

    Shape:
        (B, C_in, H, W) -> (B, C_out, H, W), like ``layer``; H, W >= k//2 + s (``layer``
        needs k//2 + 1; TransformerNet's output layer always gets a multiple of 4, >= 8).
    """

    @staticmethod
    def supports(layer: nn.Module) -> bool:
        """Whether ``layer`` is a ConvLayer this rewrite reproduces exactly."""
        if not isinstance(layer, ConvLayer):
            return False
        conv, k = layer.conv2d, layer.conv2d.kernel_size[0]
        return (conv.kernel_size == (k, k) and k % 2 == 1 and conv.stride == (1, 1) and conv.padding == (0, 0)
                and conv.dilation == (1, 1) and conv.groups == 1 and layer.reflection_pad.padding == (k // 2,) * 4)

    def __init__(self, layer: ConvLayer, stride: int = 2) -> None:
        super().__init__()
        if not self.supports(layer):
            raise ValueError(f"PhaseConvLayer needs a ConvLayer with a stride-1, odd square, ungrouped, unpadded "
                             f"convolution, got {layer}")
        conv = layer.conv2d
        k = conv.kernel_size[0]
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.kernel_size, self.stride = k, stride
        weight = conv.weight.detach()
        c_out, c_in = weight.shape[:2]
        phased = weight.new_zeros(c_out, stride, stride, c_in, k + stride - 1, k + stride - 1)
        for p in range(stride):
            for q in range(stride):
                phased[:, p, q, :, p : p + k, q : q + k] = weight
        self.weight = nn.Parameter(phased.reshape(c_out * stride * stride, c_in, k + stride - 1, k + stride - 1), requires_grad=False)
        bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(c_out)
        self.bias = nn.Parameter(bias.repeat_interleave(stride * stride), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2], x.shape[-1]
        pad, s = self.kernel_size // 2, self.stride
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()) and min(h, w) < pad + s:
            raise ValueError(f"PhaseConvLayer (kernel {self.kernel_size}, stride {s}) needs inputs of at least "
                             f"{pad + s}x{pad + s}, got {h}x{w}")
        # s - 1 more rows/columns on the far side make ceil(H/s) whole blocks; what they
        # hold only reaches outputs that the crop removes, so they are reflected too: one
        # Pad node (zero padding in a second node cost ONNX Runtime a copy, 1.9 ms at 16x480x640).
        x = F.pad(x, (pad, pad + s - 1, pad, pad + s - 1), mode="reflect")
        y = F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, stride=s), s)
        return y[..., :h, :w]


def optimize_for_export(model: TransformerNet) -> tuple[TransformerNet, list[str]]:
    """A copy of ``model`` in the form ONNX Runtime runs faster, and what was rewritten.

    The output convolution (3 channels) becomes a stride-2 :class:`PhaseConvLayer`;
    the copy computes the same function. Returns (copy, descriptions of the rewrites
    applied), the list empty when none applied (a model whose layers differ).
    """
    model = copy.deepcopy(model)
    applied = []
    layer = getattr(model, "deconv3", None)
    if PhaseConvLayer.supports(layer) and 4 * layer.conv2d.out_channels <= _OUTPUT_BLOCK:
        model.deconv3 = PhaseConvLayer(layer, stride=2)
        applied.append("output convolution as stride-2 convolution + depth-to-space")
    return model, applied
