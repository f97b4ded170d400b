"""TransformerNet: the image transformation network of Johnson et al. (2016).

The architecture and state-dict keys are exactly those of pytorch/examples'
``fast_neural_style`` (``conv1.conv2d.weight``, ``in1.weight``,
``res1.conv1.conv2d.weight``, ..., ``deconv3.conv2d.bias``), so its ``.pth``
files load unchanged. Two additions: a width multiplier for lighter real-time
students, and outputs cropped to the input's size, so any H x W works (the
original returns a larger image when H or W is not a multiple of 4).
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model

# Channels of the full-width network: conv1/deconv2, conv2/deconv1, conv3 and residual blocks.
BASE_CHANNELS = (32, 64, 128)
# Reflection padding needs every padded dimension larger than its padding:
# 4 for the 9x9 input convolution, 1 after each of the two downsamplings.
MIN_SIZE = 5


class ConvLayer(nn.Module):
    """Reflection padding by kernel_size // 2, then a convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling, then :class:`ConvLayer` (avoids deconvolution artefacts)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, upsample: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm; identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


MAX_WIDTH = 4  # 128/256/512 channels, ~27M parameters: past any useful style network


def channels_for(width: float) -> tuple[int, int, int]:
    """Channel counts at ``width``: ``c = round(32 * width)`` (at least 1), then c, 2c, 4c
    (0.5 -> 16/32/64, 0.3 -> 10/20/40). Keeping the 1:2:4 ratio lets a checkpoint's width
    be read back from its first layer alone. Raises ValueError unless 0 < width <= MAX_WIDTH."""
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"width must be in (0, {MAX_WIDTH}], got {width!r}")
    c = max(1, round(BASE_CHANNELS[0] * width))
    return tuple(c * base // BASE_CHANNELS[0] for base in BASE_CHANNELS)  # type: ignore[return-value]


class TransformerNet(nn.Module):
    """Image-to-image network for fast style transfer.

    Args:
        width: channel multiplier; 1.0 is the original (32/64/128 channels),
            0.5 a student with 16/32/64 channels and about 1/4 of the FLOPs. The
            channels are whole numbers (:func:`channels_for`), so ``.width`` is the
            multiplier actually built, channels / 32 (0.3 -> 0.3125): the value a
            saved model's width is read back as.

    Shape:
        input (B, 3, H, W), RGB on the 0-255 scale; output (B, 3, H, W) on the
        0-255 scale, unbounded (clip before display). Any H, W >= 5 (MIN_SIZE).

    Raises:
        ValueError: input that is not (B, 3, H, W) or smaller than 5 x 5.
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        c1, c2, c3 = channels_for(width)
        self.width = c1 / BASE_CHANNELS[0]
        self.conv1 = ConvLayer(3, c1, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        self.res1 = ResidualBlock(c3)
        self.res2 = ResidualBlock(c3)
        self.res3 = ResidualBlock(c3)
        self.res4 = ResidualBlock(c3)
        self.res5 = ResidualBlock(c3)
        self.deconv1 = UpsampleConvLayer(c3, c2, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checking = not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())  # a traced graph has no checks
        if checking and (x.dim() != 4 or x.shape[1] != 3 or x.shape[0] == 0):
            raise ValueError(f"input must be (B, 3, H, W) with B >= 1, got shape {tuple(x.shape)}")
        h, w = x.shape[-2], x.shape[-1]
        if checking and (h < MIN_SIZE or w < MIN_SIZE):
            raise ValueError(f"input must be at least {MIN_SIZE}x{MIN_SIZE} pixels, got {h}x{w}")
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        # Two stride-2 convolutions round up; nearest upsampling keeps the
        # top-left alignment, so cropping restores the input's size exactly.
        return y[..., :h, :w]


@register_model("transformer_net")
def transformer_net(width: float = 1.0) -> TransformerNet:
    return TransformerNet(width=width)


@register_model("transformer_net_half")
def transformer_net_half() -> TransformerNet:
    return TransformerNet(width=0.5)
