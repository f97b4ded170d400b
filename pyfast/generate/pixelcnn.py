"""PixelCNN (van den Oord et al. 2016): masked convolutions, likelihood and sampling.

The network reads images as pixel *levels* (0/1 for binary images, 0..255 for
8-bit grayscale), scales them to [0, 1], and predicts every pixel from the
pixels before it in raster order: a 7x7 mask-A convolution, residual blocks
(ReLU, 1x1 halving the channels, ReLU, 3x3 mask B, ReLU, 1x1 back, added to the
block input) and a ReLU-1x1-ReLU-1x1 head giving one Bernoulli logit per pixel
(``levels == 2``) or ``levels`` softmax logits.

Sampling draws pixel (i, j) from the model's distribution given the pixels
drawn before it. Both samplers take their randomness from the same place: one
uniform number per image and pixel, drawn up front as
``torch.rand((n, H*W), generator=torch.Generator().manual_seed(seed), dtype=float64)``
(raster order), and each pixel is the inverse CDF of its predicted distribution
at its uniform: binary ``pixel = u < sigmoid(logit)``, 256-level
``pixel = #{k < levels-1 : cdf[k] <= u}``. Given the same seed the two samplers
therefore draw the same images (up to floating-point ties at a CDF boundary).

- ``method="naive"``: one full forward pass per pixel (H*W passes).
- ``method="cached"``: the compiled sampler (``pyfast._C.pixelcnn_sample``, CPU and
  CUDA) keeps every layer's output map as a cache and, at each position, computes
  every layer only there (a masked convolution at a position reads only positions
  already computed), so a whole sample costs about one forward pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int
from ..ops import MaskedConv2d
from ..ops._dispatch import dlpack, kernel_for, stream_of

SAMPLING_METHODS = ("cached", "naive")


class _ResidualBlock(nn.Module):
    """``h + 1x1(relu(3x3_B(relu(1x1(relu(h))))))``, the bottleneck at half the channels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = max(1, channels // 2)
        self.reduce = nn.Conv2d(channels, half, 1)
        self.masked = MaskedConv2d(half, half, 3, "B")
        self.expand = nn.Conv2d(half, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        t = self.masked(F.relu(self.reduce(F.relu(h))))
        return h + self.expand(F.relu(t))


def _image_size(value: object, name: str = "image_size") -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f"{name} must be an int or a pair (H, W) of positive ints, got {value!r}")
    return check_int(value[0], name), check_int(value[1], name)


class PixelCNN(nn.Module):
    """PixelCNN over single-channel images of ``levels`` pixel levels.

    Args:
        channels: width of the residual stream (the blocks' 3x3 masked convolutions
            run at ``channels // 2``).
        n_blocks: residual blocks after the 7x7 mask-A input convolution.
        levels: 2 (binary images, Bernoulli output) or 3..256 (softmax over levels;
            256 for 8-bit grayscale).
        image_size: default size of sampled images, int or (H, W); the network
            itself accepts any size.

    Shapes:
        forward: x (B, 1, H, W) pixel levels 0..levels-1 (any real dtype) ->
        logits (B, 1, H, W) for ``levels == 2``, else (B, levels, H, W).

    Raises:
        ValueError: non-positive sizes, or ``levels`` outside 2..256.
    """

    def __init__(self, channels: int = 64, n_blocks: int = 5, levels: int = 2, image_size: int | tuple[int, int] = 28) -> None:
        super().__init__()
        check_int(channels, "channels")
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
            raise ValueError(f"n_blocks must be an integer >= 0, got {n_blocks!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or not 2 <= levels <= 256:
            raise ValueError(f"levels must be an integer in 2..256, got {levels!r}")
        self.channels, self.n_blocks, self.levels = channels, n_blocks, levels
        self.image_size = _image_size(image_size)
        self.input_conv = MaskedConv2d(1, channels, 7, "A")
        self.blocks = nn.ModuleList(_ResidualBlock(channels) for _ in range(n_blocks))
        self.head_hidden = nn.Conv2d(channels, channels, 1)
        self.head = nn.Conv2d(channels, self.out_channels, 1)

    @property
    def out_channels(self) -> int:
        """Logits per pixel: 1 for binary images, else ``levels``."""
        return 1 if self.levels == 2 else self.levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_conv(x.to(self.head.weight.dtype) / (self.levels - 1))
        for block in self.blocks:
            h = block(h)
        return self.head(F.relu(self.head_hidden(F.relu(h))))

    def extra_repr(self) -> str:
        return f"levels={self.levels}, image_size={self.image_size}"

    # ------------------------------------------------------------------ likelihood

    def nll(self, images: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each image in nats, (B,).

        Args:
            images: (B, 1, H, W) pixel levels 0..levels-1, integer or real dtype.

        Raises:
            ValueError: wrong shape, or values that are not levels of this model.
        """
        levels = _check_levels(images, self.levels)
        logits = self(levels)
        if self.levels == 2:
            per_pixel = F.binary_cross_entropy_with_logits(logits, levels.to(logits.dtype), reduction="none")
        else:
            per_pixel = F.cross_entropy(logits, levels[:, 0].long(), reduction="none")
        return per_pixel.flatten(1).sum(1)

    # ------------------------------------------------------------------ sampling

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        method: str = "cached",
        progress: bool = True,
        image_size: int | tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Draws ``n`` images pixel by pixel in raster order.

        Args:
            n: number of images.
            seed: seeds the uniform numbers the pixels are drawn with (module
                docstring); the same seed gives the same images with either method.
                None: a seed from torch's global generator.
            method: "cached" (compiled sampler, about one forward pass in all) or
                "naive" (one full forward pass per pixel).
            progress: show a progress bar (per row for "cached", per pixel for "naive").
            image_size: int or (H, W); default the model's ``image_size``.

        Returns:
            uint8 (n, 1, H, W) pixel levels 0..levels-1 (0/1 for binary images), on
            the model's device.

        Raises:
            ValueError: bad ``n``, ``method`` or ``image_size``.
        """
        check_int(n, "n")
        if method not in SAMPLING_METHODS:
            raise ValueError(f"method must be one of {SAMPLING_METHODS}, got {method!r}")
        height, width = self.image_size if image_size is None else _image_size(image_size)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        weight = self.head.weight
        uniforms = torch.rand((n, height * width), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        uniforms = uniforms.to(dtype=weight.dtype, device=weight.device)
        kernels = kernel_for(uniforms, "PixelCNN.sample") if method == "cached" else None
        if kernels is None:
            levels = self._sample_naive(uniforms, height, width, progress)
        else:
            levels = self._sample_cached(kernels, uniforms, height, width, progress)
        return levels.to(torch.uint8).view(n, 1, height, width)

    def _sample_naive(self, uniforms: torch.Tensor, height: int, width: int, progress: bool) -> torch.Tensor:
        from tqdm.auto import tqdm

        n = uniforms.shape[0]
        image = uniforms.new_zeros((n, 1, height, width))
        for p in tqdm(range(height * width), desc="PixelCNN naive sampling", unit="px", disable=not progress, leave=False):
            i, j = divmod(p, width)
            logits = self(image)[:, :, i, j]
            image[:, 0, i, j] = draw_levels(logits, uniforms[:, p], self.levels)
        return image.view(n, height * width)

    def sampling_program(self) -> tuple[list[tuple], list[int]]:
        """The network as the compiled sampler runs it.

        Returns:
            (layers, buffer_channels): layers as tuples ``(weight, bias, mask_type,
            relu_input, in, out, residual)`` (see ``pyfast._C.pixelcnn_sample``) and
            the channels of each activation buffer, buffer 0 being the image.
        """
        channels = [1]

        def new_buffer(c: int) -> int:
            channels.append(c)
            return len(channels) - 1

        def conv(module: nn.Conv2d, mask: str, relu: bool, src: int, residual: int = -1) -> tuple:
            dst = new_buffer(module.out_channels)
            return (module.weight.detach().contiguous(), module.bias.detach().contiguous(), mask, relu, src, dst, residual)

        layers = [conv(self.input_conv, "A", False, 0)]
        h = layers[-1][5]
        for block in self.blocks:
            layers.append(conv(block.reduce, "B", True, h))
            layers.append(conv(block.masked, "B", True, layers[-1][5]))
            layers.append(conv(block.expand, "B", True, layers[-1][5], residual=h))
            h = layers[-1][5]
        layers.append(conv(self.head_hidden, "B", True, h))
        layers.append(conv(self.head, "B", True, layers[-1][5]))
        return layers, channels

    def _sample_cached(self, kernels, uniforms: torch.Tensor, height: int, width: int, progress: bool) -> torch.Tensor:
        from tqdm.auto import tqdm

        n = uniforms.shape[0]
        layers, channels = self.sampling_program()
        caches = [uniforms.new_zeros((height * width, n, c)) for c in channels]
        pixels = uniforms.new_zeros((n, height * width))
        stream = stream_of(uniforms)
        for row in tqdm(range(height), desc="PixelCNN cached sampling", unit="row", disable=not progress, leave=False):
            kernels.pixelcnn_sample(
                [(dlpack(w), dlpack(b), *rest) for w, b, *rest in layers],
                [dlpack(c) for c in caches], dlpack(uniforms), dlpack(pixels),
                height, width, self.levels, row * width, (row + 1) * width, stream,
            )
        return pixels


def draw_levels(logits: torch.Tensor, uniforms: torch.Tensor, levels: int) -> torch.Tensor:
    """Inverse-CDF draw of one level per row of ``logits`` at ``uniforms`` (B,).

    ``levels == 2``: logits (B, 1), level ``u < sigmoid(logit)``; else logits
    (B, levels), level ``#{k < levels-1 : cdf[k] <= u}`` with cdf the cumulative
    softmax. Returns (B,) levels in the logits' dtype.
    """
    if levels == 2:
        return (uniforms < torch.sigmoid(logits[:, 0])).to(logits.dtype)
    cdf = torch.softmax(logits, dim=1).cumsum(dim=1)
    return (cdf[:, :-1] <= uniforms[:, None]).sum(dim=1).to(logits.dtype)


def _check_levels(images: object, levels: int) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (B, 1, H, W), got shape {tuple(images.shape)}")
    if images.numel() == 0:
        raise ValueError(f"images must not be empty, got shape {tuple(images.shape)}")
    low, high = images.min().item(), images.max().item()
    if low < 0 or high > levels - 1 or (images.is_floating_point() and not torch.equal(images, images.round())):
        raise ValueError(f"images must hold pixel levels 0..{levels - 1}, got values in [{low}, {high}]")
    return images


def pixelcnn_loss(model: PixelCNN, batch: torch.Tensor | tuple | list) -> torch.Tensor:
    """Mean negative log-likelihood of a batch in nats per image (differentiable).

    Divide by ``H*W*ln 2`` for bits per dimension (:func:`bits_per_dim`).

    Args:
        model: a :class:`PixelCNN`.
        batch: (B, 1, H, W) pixel levels 0..levels-1 (uint8 from the digit data sets:
            0/1 binary, 0..255 8-bit), or a tuple/list whose first item is that tensor.

    Raises:
        ValueError: the batch does not hold levels of the model.
    """
    images = batch[0] if isinstance(batch, (tuple, list)) else batch
    device = next(model.parameters()).device
    return model.nll(images.to(device)).mean()


def bits_per_dim(nats_per_image: float, image_size: tuple[int, int] | int) -> float:
    """Converts a negative log-likelihood in nats per (single-channel) image to bits per pixel."""
    height, width = _image_size(image_size)
    return nats_per_image / (height * width * math.log(2))
