"""VGG-16 feature extractor used as the perceptual loss network.

Layer indices follow torchvision's ``vgg16().features`` so that its state dicts
(``features.0.weight`` ...) load unchanged from a file the user gives. Nothing is
ever downloaded: without weights the network is a deterministic random-feature
VGG-16 (He-initialised from a fixed seed), whose Gram matrices still carry the
colour and local texture statistics that style transfer matches.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from .._torch_files import load_torch_file
from ..ops.winograd import conv3x3_frozen
from .registry import register_model

# (name, channels) of torchvision's vgg16 configuration up to relu4_3; "M" is max-pooling.
_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
# Indices into `features` (torchvision numbering) of the ReLUs the losses read.
LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
# Pseudo-layer: the normalised input itself (its Gram matrix is the colour second moments).
INPUT_LAYER = "rgb"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_ENV = "PYFAST_VGG16_WEIGHTS"


def _build_features(width: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = 3
    for item in _CONFIG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            out_channels = max(1, round(int(item) * width))
            layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_channels = out_channels
    return nn.Sequential(*layers)


class VGG16Features(nn.Module):
    """Frozen VGG-16 trunk returning relu1_2, relu2_2, relu3_3 and relu4_3.

    Args:
        weights: path to a torchvision-format VGG-16 state dict (``features.N.*``
            keys; a full ``vgg16`` state dict works, its classifier is ignored).
            None builds the deterministic random-feature network.
        width: channel multiplier of the random network (1.0 = VGG-16's 64..512);
            must be 1.0 with ``weights``.
        seed: seed of the random network's initialisation.
        fast_convs: run the 3x3 convolutions through :func:`pyfast.ops.conv3x3_frozen`
            (Winograd forward and input gradient on the CPU; ``pyfast bench training`` and
            ``pyfast bench gatys`` measure the effect end to end) whenever their parameters do not require grad; it falls back to
            ``F.conv2d`` where it does not apply (CUDA, float64, tracing/export).
            Results agree with the default path to ~1e-6 relative.

    Shape:
        input (B, 3, H, W) RGB on the 0-255 scale (normalised inside with the
        ImageNet mean/std); output an ordered dict of the requested layers.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        width: float = 1.0,
        seed: int = 0,
        fast_convs: bool = False,
    ) -> None:
        super().__init__()
        self.fast_convs = bool(fast_convs)
        if weights is not None and width != 1.0:
            raise ValueError(f"width must be 1.0 with pretrained weights, got {width}")
        self.features = _build_features(width)
        self.pretrained = weights is not None
        self.width = float(width)
        if weights is not None:
            self._load(Path(weights))
        else:
            self._randomise(seed)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def _randomise(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        for m in self.features:
            if isinstance(m, nn.Conv2d):
                fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                    m.bias.zero_()

    def _load(self, path: Path) -> None:
        state = load_torch_file(path, what="VGG-16 weights file")
        if not isinstance(state, dict):
            raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__})")
        own = self.features.state_dict()
        picked = OrderedDict()
        for key in own:
            for candidate in (f"features.{key}", key):
                if candidate in state:
                    picked[key] = state[candidate]
                    break
            else:
                raise ValueError(f"{path} is not a torchvision VGG-16 state dict: missing 'features.{key}'")
            if picked[key].shape != own[key].shape:
                raise ValueError(
                    f"{path}: 'features.{key}' has shape {tuple(picked[key].shape)}, "
                    f"VGG-16 needs {tuple(own[key].shape)}"
                )
        self.features.load_state_dict(picked)

    def forward(self, x: torch.Tensor, layers: tuple[str, ...] = tuple(LAYERS)) -> "OrderedDict[str, torch.Tensor]":
        """Features of ``x`` at ``layers`` (names of :data:`LAYERS` or ``"rgb"``, the normalised
        input), computed only as deep as needed."""
        unknown = [name for name in layers if name not in LAYERS and name != INPUT_LAYER]
        if unknown:
            raise ValueError(f"unknown VGG-16 layer(s) {unknown}; valid: {', '.join([INPUT_LAYER, *LAYERS])}")
        wanted = {LAYERS[name]: name for name in layers if name in LAYERS}
        last = max(wanted, default=-1)
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        y = (x - self.mean) / self.std
        if self.fast_convs and y.device.type == "cpu" and y.dtype == torch.float32:
            y = y.contiguous()  # the Winograd kernel reads NCHW: convert once, not per layer
        if INPUT_LAYER in layers:
            out[INPUT_LAYER] = y
        for index, module in enumerate(self.features):
            if index > last:
                break
            y = self._run_layer(module, y)
            if index in wanted:
                out[wanted[index]] = y
        return OrderedDict((name, out[name]) for name in layers)

    @property
    def prefers_channels_last(self) -> bool:
        """Whether callers should feed channels-last tensors: yes for oneDNN/cuDNN convolutions,
        no when the CPU Winograd kernel (``fast_convs``), which reads NCHW, runs them."""
        return not (self.fast_convs and self.mean.device.type == "cpu")

    def _run_layer(self, module: nn.Module, y: torch.Tensor) -> torch.Tensor:
        frozen = isinstance(module, nn.Conv2d) and not module.weight.requires_grad and (
            module.bias is None or not module.bias.requires_grad
        )
        if self.fast_convs and frozen:
            return conv3x3_frozen(y, module.weight, module.bias)
        return module(y)

    def extra_repr(self) -> str:
        return f"pretrained={self.pretrained}, width={self.width}, fast_convs={self.fast_convs}"


def resolve_weights(weights: str | os.PathLike | None) -> str | None:
    """The VGG-16 weights path from the argument, else ``$PYFAST_VGG16_WEIGHTS``, else None."""
    if weights:
        return str(weights)
    return os.environ.get(WEIGHTS_ENV) or None


@register_model("vgg16_features")
def vgg16_features(
    weights: str | None = None, width: float = 1.0, seed: int = 0, fast_convs: bool = False
) -> VGG16Features:
    return VGG16Features(weights=weights, width=width, seed=seed, fast_convs=fast_convs)
