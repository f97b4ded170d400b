"""Neural style transfer (Gatys et al., 2016) and texture synthesis (Gatys et al., 2015).

Both optimise the pixels of one image so that its VGG-16 features match targets:

- **style**: the Gram matrices (:func:`pyfast.ops.gram_matrix`) of the style image's features
  at ``style_layers``;
- **content** (style transfer only): the content image's features at ``content_layers``;
- **total variation** (:func:`pyfast.ops.total_variation`), a smoothness prior on the pixels.

Pictures go in and come out as uint8 RGB arrays (H, W, 3), as :func:`pyfast.data.read_image`
gives them. The loss network is :class:`pyfast.models.VGG16Features`: pretrained when the user
gives torchvision VGG-16 weights (a path or ``$PYFAST_VGG16_WEIGHTS``), else the deterministic
random-feature network with the calibrated preset of :mod:`pyfast.style.losses` (normalised
layers, the colour moments ``"rgb"``, the three shallower ReLUs). Nothing is downloaded.

Speed: the style Grams and content features are computed once; each step runs the loss
network channels-last and only as deep as the deepest layer used, with the compiled Gram and
TV kernels (``pyfast bench gatys`` compares it with the plain PyTorch formulation).
"""

from __future__ import annotations

import copy
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.vgg import INPUT_LAYER, LAYERS, VGG16Features
from ..ops import gram_matrix, reference, total_variation
from ..runtime import color
from ..style.data import image_tensor, to_uint8
from ..style.losses import (
    CONTENT_LAYER,
    RANDOM_FEATURE_STYLE_LAYERS,
    RANDOM_FEATURE_WEIGHTS,
    STYLE_LAYERS,
    LossWeights,
)
from ..style.train import build_loss_network
from ._common import model_device

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
# Step sizes on the 0-255 pixel scale: L-BFGS takes unit quasi-Newton steps, Adam moves ~lr grey levels.
DEFAULT_LR = {"lbfgs": 1.0, "adam": 10.0}
# Smallest side any scale may have: relu4_3 sits behind three 2x2 poolings.
MIN_SIDE = 16

LossNet = VGG16Features | str | os.PathLike | None


@dataclass
class GatysResult:
    """What :func:`style_transfer` and :func:`texture_synthesis` return.

    Attributes:
        image: the result, (H, W, 3) uint8 RGB.
        losses: term -> one value per optimisation step over all scales in order
            (``"content"``, ``"style"``, ``"tv"``, ``"total"``; weighted, as optimised).
        sizes: (H, W) of each scale, coarse to fine.
        steps: steps run at each scale.
    """

    image: np.ndarray
    losses: dict[str, list[float]] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    steps: int = 0


def _layer_error(prediction: torch.Tensor, target: torch.Tensor, normalized: bool) -> torch.Tensor:
    """Mean squared error, divided by the target's mean square when ``normalized`` (as in PerceptualLoss)."""
    error = F.mse_loss(prediction, target.expand_as(prediction))
    return error / target.pow(2).mean().clamp_min(1e-12) if normalized else error


class _ContiguousKeepGradLayout(torch.autograd.Function):
    """``x.contiguous()`` whose gradient comes back in ``x``'s layout: a channels-last network
    then runs its ReLU backward and gradient sums on one layout (mixed layouts are ~4x slower)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.channels_last = not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        return x.contiguous()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


class GatysLoss(nn.Module):
    """Weighted content + style + total-variation loss of one image against fixed targets.

    Args:
        loss_net: the feature extractor, called as ``loss_net(x, layers) -> {layer: (B, C, h, w)}``
            on (B, 3, H, W) RGB 0-255 (a :class:`VGG16Features`); used as given, never changed.
        style: (1, 3, Hs, Ws) 0-255; its Gram matrices at ``style_layers`` are computed once.
        content: (1, 3, H, W) 0-255, or None (texture synthesis); its features at
            ``content_layers`` are computed once.
        weights: the terms' weights; ``weights.normalized`` divides each layer's error by the
            mean square of its target.
        compiled: the compiled Gram/TV kernels (True) or their PyTorch formulations.
        channels_last: feed the network channels-last tensors (faster oneDNN/cuDNN convolutions).

    Call with the image (1, 3, H, W), 0-255; returns the weighted terms ``"content"``,
    ``"style"``, ``"tv"`` and their sum ``"total"`` (scalars).
    """

    def __init__(
        self,
        loss_net: nn.Module,
        style: torch.Tensor,
        content: torch.Tensor | None = None,
        content_layers: Sequence[str] = (CONTENT_LAYER,),
        style_layers: Sequence[str] = STYLE_LAYERS,
        weights: LossWeights | None = None,
        compiled: bool = True,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.loss_net = loss_net
        self.weights = weights or LossWeights()
        self.style_layers = tuple(style_layers)
        self.content_layers = tuple(content_layers) if content is not None and self.weights.content else ()
        self.layers = tuple(dict.fromkeys((*self.style_layers, *self.content_layers)))
        channels_last = channels_last and getattr(loss_net, "prefers_channels_last", True)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.gram = gram_matrix if compiled else reference.gram_matrix
        self.tv = total_variation if compiled else reference.total_variation
        with torch.no_grad():
            style_features = self._features(style, self.style_layers)
            self.style_grams = {name: self.gram(f.float()) for name, f in style_features.items()}
            self.content_features = self._features(content, self.content_layers) if self.content_layers else {}

    def _features(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        return dict(self.loss_net(x.contiguous(memory_format=self.memory_format), tuple(layers)))

    def _gram_input(self, f: torch.Tensor) -> torch.Tensor:
        # Gram matrices in float32 (also under autocast). The kernel reads (C, H*W) rows; for
        # channels-last features the copy is made here so that the gradient returns channels-last.
        f = f.float()
        if self.gram is gram_matrix and self.memory_format == torch.channels_last:
            return _ContiguousKeepGradLayout.apply(f)
        return f

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        w = self.weights
        features = self._features(image, self.layers)
        zero = image.new_zeros(())
        content = sum((_layer_error(features[name], target, w.normalized)
                       for name, target in self.content_features.items()), zero)
        style = sum((_layer_error(self.gram(self._gram_input(features[name])), target, w.normalized)
                     for name, target in self.style_grams.items()), zero)
        terms = {"content": w.content * content, "style": w.style * style,
                 "tv": w.tv * self.tv(image) if w.tv else zero}
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms


# ---------------------------------------------------------------- argument checks


def _check_picture(picture: np.ndarray, name: str) -> np.ndarray:
    if not isinstance(picture, np.ndarray):
        raise ValueError(f"{name} must be a numpy array (H, W, 3) uint8, got {type(picture).__name__}")
    if picture.dtype != np.uint8 or picture.ndim != 3 or picture.shape[2] != 3:
        raise ValueError(f"{name} must be an RGB picture (H, W, 3) uint8, got {picture.dtype} {picture.shape}")
    if min(picture.shape[:2]) < MIN_SIDE:
        raise ValueError(f"{name} must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {picture.shape[0]}x{picture.shape[1]}")
    return picture


def _check_weight(value: float | None, name: str) -> float | None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_scales(scales: Sequence[float]) -> tuple[float, ...]:
    scales = tuple(scales)
    if (not scales or any(not isinstance(s, (int, float)) or not 0 < s <= 1 for s in scales)
            or any(a >= b for a, b in itertools.pairwise(scales)) or scales[-1] != 1):
        raise ValueError(f"scales must be increasing fractions in (0, 1] ending with 1.0, got {scales}")
    return tuple(float(s) for s in scales)


def _check_layers(layers: Sequence[str], name: str, net: nn.Module) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    layers = tuple(layers)
    if isinstance(net, VGG16Features):
        valid = (INPUT_LAYER, *LAYERS)
        unknown = [layer for layer in layers if layer not in valid]
        if unknown:
            raise ValueError(f"{name} has unknown layer(s) {unknown}; valid: {', '.join(valid)}")
    return layers


def _check_common(optimizer: str, steps: int, lr: float | None, seed: int) -> float:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if lr is None:
        return DEFAULT_LR[optimizer]
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    return float(lr)


def _prepare_loss_net(loss_net: LossNet, device: str | torch.device | None, channels_last: bool) -> nn.Module:
    """The network to optimise against: a channels-last copy of the caller's, or a new one."""
    if loss_net is None or isinstance(loss_net, (str, os.PathLike)):
        net = build_loss_network(None if loss_net is None else str(loss_net), 1.0).to(device or "cpu")
    elif isinstance(loss_net, nn.Module):
        net = copy.deepcopy(loss_net)  # the caller's network keeps its weights' layout and flags
    else:
        raise ValueError(f"loss_net must be a VGG16Features, a path to VGG-16 weights or None, got {type(loss_net).__name__}")
    net.requires_grad_(False).eval()
    channels_last = channels_last and getattr(net, "prefers_channels_last", True)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def _presets(net: nn.Module, style_layers, content_layers, content_weight, style_weight, tv_weight):
    """The calibrated layers/weights for the network (pretrained or random features), with overrides."""
    pretrained = getattr(net, "pretrained", True)
    preset = LossWeights() if pretrained else RANDOM_FEATURE_WEIGHTS
    weights = LossWeights(
        content=preset.content if content_weight is None else float(content_weight),
        style=preset.style if style_weight is None else float(style_weight),
        tv=preset.tv if tv_weight is None else float(tv_weight),
        normalized=preset.normalized,
    )
    if style_layers is None:
        style_layers = STYLE_LAYERS if pretrained else RANDOM_FEATURE_STYLE_LAYERS
    style_layers = _check_layers(style_layers, "style_layers", net)
    if not style_layers:
        raise ValueError("style_layers must name at least one layer, got none")
    content_layers = (CONTENT_LAYER,) if content_layers is None else content_layers
    return style_layers, _check_layers(content_layers, "content_layers", net), weights


# ---------------------------------------------------------------- optimisation


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 255)


def _scale_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(MIN_SIDE, round(size[0] * scale)), max(MIN_SIDE, round(size[1] * scale))


def _luminance(x: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) RGB -> its BT.601 luma replicated on three channels."""
    weights = x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True).expand(-1, 3, -1, -1).contiguous()


class PixelOptimizer:
    """The pixels of one image under L-BFGS or Adam; each :meth:`step` evaluates the loss once.

    Args:
        loss_fn: image (1, 3, H, W) -> dict of scalar terms with the objective under ``"total"``.
        init: (1, 3, H, W) start image, 0-255; copied.
        optimizer: ``"lbfgs"`` (no line search, curvature memory of 50 steps) or ``"adam"``
            (pixels clamped to 0..255 after each step).
        lr: step size.
    """

    def __init__(self, loss_fn, init: torch.Tensor, optimizer: str, lr: float) -> None:
        self.loss_fn = loss_fn
        self.pixels = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
        self.kind = optimizer
        if optimizer == "lbfgs":
            # max_iter=1 keeps the curvature memory between calls; tolerances off: ``steps`` is the budget.
            self.optimizer = torch.optim.LBFGS([self.pixels], lr=lr, max_iter=1, history_size=50,
                                               tolerance_grad=0.0, tolerance_change=0.0)
        else:
            self.optimizer = torch.optim.Adam([self.pixels], lr=lr)
        # The optimiser sees the loss times the number of pixel values: per-pixel gradients of order
        # one (mean-based terms give ~1e-5 on the 0-255 scale), which L-BFGS's absolute curvature test needs.
        self.units = float(self.pixels.numel())
        self._terms: dict[str, torch.Tensor] = {}

    def _closure(self) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.loss_fn(self.pixels)
        (terms["total"] * self.units).backward()
        self.pixels.grad = self.pixels.grad.contiguous()  # L-BFGS flattens it with view()
        self._terms = terms
        return terms["total"].detach() * self.units

    def step(self) -> dict[str, float]:
        """One optimiser step; returns the terms evaluated in it.

        Raises:
            FloatingPointError: the loss is NaN or infinite.
        """
        self.optimizer.step(self._closure)
        if self.kind == "adam":
            with torch.no_grad():
                self.pixels.clamp_(0, 255)
        values = {k: float(v.detach()) for k, v in self._terms.items()}
        if not math.isfinite(values["total"]):
            raise FloatingPointError(f"the loss became {values['total']}; lower lr or the loss weights")
        return values


def _optimize(
    loss_net: nn.Module,
    style: torch.Tensor,
    content: torch.Tensor | None,
    init: torch.Tensor,
    size: tuple[int, int],
    *,
    style_layers: tuple[str, ...],
    content_layers: tuple[str, ...],
    weights: LossWeights,
    optimizer: str,
    steps: int,
    lr: float,
    scales: tuple[float, ...],
    channels_last: bool,
    progress: bool,
    desc: str,
) -> tuple[torch.Tensor, dict[str, list[float]], list[tuple[int, int]]]:
    """Coarse-to-fine optimisation of the pixels; returns the (1, 3, H, W) image, loss history, sizes."""
    from tqdm.auto import tqdm

    history: dict[str, list[float]] = {"content": [], "style": [], "tv": [], "total": []}
    sizes = [_scale_size(size, s) for s in scales]
    image = init
    bar = tqdm(total=steps * len(scales), desc=desc, unit="step", disable=not progress, leave=False)
    try:
        for scale, scale_size in zip(scales, sizes):
            style_size = _scale_size(tuple(style.shape[-2:]), scale)
            criterion = GatysLoss(
                loss_net, _resize(style, style_size), None if content is None else _resize(content, scale_size),
                content_layers, style_layers, weights, compiled=True, channels_last=channels_last,
            )
            stepper = PixelOptimizer(criterion, _resize(image, scale_size), optimizer, lr)
            for _ in range(steps):
                values = stepper.step()
                for k, v in values.items():
                    history[k].append(v)
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
            image = stepper.pixels.detach().clamp(0, 255)
    finally:
        bar.close()
    return image, history, sizes


def style_transfer(
    content: np.ndarray,
    style: np.ndarray,
    *,
    loss_net: LossNet = None,
    content_layers: Sequence[str] | None = None,
    style_layers: Sequence[str] | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    optimizer: str = "lbfgs",
    steps: int = 300,
    lr: float | None = None,
    scales: Sequence[float] = (1.0,),
    preserve_color: bool = False,
    init: str = "content",
    seed: int = 0,
    device: str | torch.device | None = None,
    channels_last: bool = True,
    progress: bool = True,
) -> GatysResult:
    """Gatys et al.'s neural style transfer: optimises an image to have ``content``'s
    features and ``style``'s Gram matrices.

    Args:
        content: (H, W, 3) uint8 RGB, at least 16x16; the result has its size.
        style: (Hs, Ws, 3) uint8 RGB, at least 16x16. Used at its own size, which sets the
            scale of the brush strokes (resize it beforehand to change that).
        loss_net: a :class:`~pyfast.models.VGG16Features` (or a module called the same way:
            ``net(x, layers) -> {layer: features}``), a path to torchvision VGG-16 weights, or
            None: ``$PYFAST_VGG16_WEIGHTS``, else the random-feature network (with a warning).
            A given network is copied, never changed.
        content_layers, style_layers: layer names (``"rgb"``, ``"relu1_2"``, ``"relu2_2"``,
            ``"relu3_3"``, ``"relu4_3"``). None: ``("relu2_2",)`` for content; for style all four
            ReLUs with pretrained weights, :data:`~pyfast.style.losses.RANDOM_FEATURE_STYLE_LAYERS`
            with random features.
        content_weight, style_weight, tv_weight: >= 0; None takes the preset for the network
            (:class:`~pyfast.style.losses.LossWeights` with pretrained weights,
            :data:`~pyfast.style.losses.RANDOM_FEATURE_WEIGHTS` with random features). The TV
            term is :func:`pyfast.ops.total_variation` of the 0-255 image (sum, beta 2).
        optimizer: ``"lbfgs"`` (one loss evaluation per step, no line search) or ``"adam"``.
        steps: optimisation steps per scale, >= 1.
        lr: step size; None: 1.0 for L-BFGS, 10.0 (grey levels) for Adam.
        scales: fractions of the full size, increasing and ending at 1.0, e.g. ``(0.25, 0.5, 1.0)``:
            the image is optimised at each in turn, upsampled to the next (sides at least 16).
        preserve_color: luminance-only transfer (Gatys et al. 2017): optimise the luma of the
            content against the style's luma (matched to the content's mean and spread), then
            put the content's chroma (Cb, Cr) back.
        init: ``"content"`` (start from the content image) or ``"noise"`` (uniform, from ``seed``).
        seed: seed of the noise initialisation.
        device: where to run when the network is built here; a given network's device otherwise.
        channels_last: run the network on channels-last tensors (faster on CPU and GPU).
        progress: show a tqdm progress bar with the loss terms.

    Returns:
        :class:`GatysResult` with the (H, W, 3) uint8 image and the loss history.

    Raises:
        ValueError: a picture that is not (H, W, 3) uint8 or smaller than 16x16, unknown
            optimizer/init/layer, steps < 1, lr <= 0, negative weights, bad scales.
        FloatingPointError: the loss became NaN or infinite (lower ``lr`` or the weights).
    """
    _check_picture(content, "content")
    _check_picture(style, "style")
    lr = _check_common(optimizer, steps, lr, seed)
    scales = _check_scales(scales)
    for value, name in ((content_weight, "content_weight"), (style_weight, "style_weight"), (tv_weight, "tv_weight")):
        _check_weight(value, name)
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    net = _prepare_loss_net(loss_net, device, channels_last)
    style_layers, content_layers, weights = _presets(net, style_layers, content_layers,
                                                     content_weight, style_weight, tv_weight)
    on = model_device(net)
    content_t, style_t = image_tensor(content).to(on), image_tensor(style).to(on)
    if preserve_color:
        content_t, style_t = _luminance(content_t), _luminance(style_t)
        # Match the style's luma to the content's mean and spread, so only its texture transfers.
        style_t = ((style_t - style_t.mean()) / style_t.std().clamp_min(1e-6) * content_t.std() + content_t.mean()).clamp(0, 255)
    size = (content.shape[0], content.shape[1])
    if init == "content":
        start = content_t
    else:
        start = _noise(_scale_size(size, scales[0]), seed, on)
    image, history, sizes = _optimize(
        net, style_t, content_t, start, size, style_layers=style_layers, content_layers=content_layers,
        weights=weights, optimizer=optimizer, steps=steps, lr=lr, scales=scales,
        channels_last=channels_last, progress=progress, desc="style transfer",
    )
    rgb = to_uint8(image)[0]
    if preserve_color:
        rgb = color.to_uint8(color.preserve_color(content, rgb))
    return GatysResult(rgb, history, sizes, steps)


def texture_synthesis(
    texture: np.ndarray,
    *,
    size: tuple[int, int] | None = None,
    loss_net: LossNet = None,
    style_layers: Sequence[str] | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    optimizer: str = "lbfgs",
    steps: int = 300,
    lr: float | None = None,
    scales: Sequence[float] = (1.0,),
    seed: int = 0,
    device: str | torch.device | None = None,
    channels_last: bool = True,
    progress: bool = True,
) -> GatysResult:
    """Gatys et al.'s texture synthesis: optimises noise to have ``texture``'s Gram matrices.

    Args:
        texture: (H, W, 3) uint8 RGB, at least 16x16.
        size: (height, width) of the result, each >= 16; None: the texture's size.
        seed: seed of the noise the synthesis starts from.
        loss_net, style_layers, style_weight, tv_weight, optimizer, steps, lr, scales, device,
            channels_last, progress: as in :func:`style_transfer`.

    Returns:
        :class:`GatysResult` with the (height, width, 3) uint8 texture; its ``"content"``
        losses are 0.

    Raises:
        ValueError: as in :func:`style_transfer`, and a ``size`` that is not two integers >= 16.
        FloatingPointError: the loss became NaN or infinite.
    """
    _check_picture(texture, "texture")
    lr = _check_common(optimizer, steps, lr, seed)
    scales = _check_scales(scales)
    _check_weight(style_weight, "style_weight")
    _check_weight(tv_weight, "tv_weight")
    if size is None:
        size = (texture.shape[0], texture.shape[1])
    if (len(tuple(size)) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < MIN_SIDE
                                     for s in size)):
        raise ValueError(f"size must be (height, width), integers >= {MIN_SIDE}, got {size!r}")
    size = (int(size[0]), int(size[1]))
    net = _prepare_loss_net(loss_net, device, channels_last)
    style_layers, _, weights = _presets(net, style_layers, (), 0.0, style_weight, tv_weight)
    on = model_device(net)
    image, history, sizes = _optimize(
        net, image_tensor(texture).to(on), None, _noise(_scale_size(size, scales[0]), seed, on), size,
        style_layers=style_layers, content_layers=(), weights=weights, optimizer=optimizer, steps=steps,
        lr=lr, scales=scales, channels_last=channels_last, progress=progress, desc="texture synthesis",
    )
    return GatysResult(to_uint8(image)[0], history, sizes, steps)


def _noise(size: tuple[int, int], seed: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((1, 3, *size), generator=g) * 255).to(device)

