"""ResNet-18 (He et al. 2016) without torchvision, with torchvision's module names.

``ResNet18().state_dict()`` has exactly the keys of ``torchvision.models.resnet18()``
(``conv1.weight``, ``layer1.0.bn1.running_mean``, ``layer2.0.downsample.0.weight``,
``fc.bias`` ...), so a torchvision checkpoint the user gives loads unchanged. Nothing is
downloaded: without weights the network is He-initialised from a fixed seed.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .registry import register_model


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a residual connection.

    ``downsample`` (a 1x1 stride-``stride`` convolution and batch norm) matches the shortcut
    to the block's output when the stride or the width changes.

    Shape:
        (B, in_channels, H, W) -> (B, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class ResNet18(nn.Module):
    """ResNet-18: a 7x7 stem, four stages of two basic blocks (64, 128, 256, 512 channels), a linear head.

    Args:
        num_classes: outputs of ``fc``.
        weights: optional path to a torchvision-format ResNet-18 state dict (loaded with
            ``weights_only=True``; its ``fc`` must have ``num_classes`` outputs).
        seed: seed of the random initialisation used without ``weights``.

    Shape:
        input (B, 3, H, W) (ImageNet preprocessing for torchvision weights), H, W >= 32;
        output (B, num_classes) scores.

    Raises:
        FileNotFoundError: ``weights`` does not exist.
        ValueError: ``num_classes`` < 1.
    """

    def __init__(self, num_classes: int = 1000, weights: str | os.PathLike | None = None, seed: int = 0) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        widths = (64, 128, 256, 512)
        in_channels = 64
        for index, width in enumerate(widths, start=1):
            stride = 1 if index == 1 else 2
            setattr(self, f"layer{index}", nn.Sequential(BasicBlock(in_channels, width, stride), BasicBlock(width, width)))
            in_channels = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        if weights is not None:
            if not os.path.isfile(weights):
                raise FileNotFoundError(f"no such ResNet-18 weights file: {weights}")
            self.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        else:
            self._init_random(seed)

    def _init_random(self, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * (2.0 / fan_out) ** 0.5)
                elif isinstance(module, nn.Linear):
                    bound = module.in_features ** -0.5
                    module.weight.copy_((torch.rand(module.weight.shape, generator=generator) * 2 - 1) * bound)
                    module.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet18")
def resnet18(**kwargs) -> ResNet18:
    """ResNet-18 with torchvision's state-dict keys; see :class:`ResNet18`."""
    return ResNet18(**kwargs)
