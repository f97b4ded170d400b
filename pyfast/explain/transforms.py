"""Image operations shared by the optimisation methods (class visualisation, DeepDream, inversion).

Everything here works on model-space batches (N, C, H, W) and is differentiable unless said
otherwise, so a transform can sit between the optimised image and the model.

- Value box: :func:`resolve_bounds`, :func:`clamp_to_bounds`, :func:`value_range`.
- cs231n regularisers: :func:`roll` / :func:`random_roll` (jitter), :func:`gaussian_blur`.
- Lucid-style random transformations: :class:`Pad`, :class:`Jitter`, :class:`RandomScale`,
  :class:`RandomRotate`, chained by :class:`Compose`; :func:`standard_transforms` is the usual
  chain (pad 12, jitter 8, scale 0.9..1.1, rotate -10..10 degrees, jitter 4).
- A decorrelated colour + Fourier image parameterisation, :class:`FourierImage`, with its
  inverse (:meth:`FourierImage.from_images`), built on :func:`spectrum_to_image` /
  :func:`image_to_spectrum` and :func:`correlate_colors` / :func:`decorrelate_colors`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int

Bounds = tuple[object, object]

# Square root of the colour covariance of natural (ImageNet) RGB pictures, columns normalised to a
# maximal norm of 1: maps three decorrelated channels to correlated RGB. A standard statistic of
# natural images (as used by feature-visualisation work such as Lucid).
_COLOR_CORRELATION = torch.tensor([[0.26, 0.09, 0.02],
                                   [0.27, 0.00, -0.05],
                                   [0.27, -0.09, 0.03]], dtype=torch.float64)
_COLOR_CORRELATION = _COLOR_CORRELATION / _COLOR_CORRELATION.norm(dim=0).max()


# ---------------------------------------------------------------------------------------------
# argument checks shared by the methods of pyfast.explain


def check_positive(value: object, name: str) -> float:
    """``value`` as a finite float > 0. Raises ValueError naming ``name`` otherwise."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not (0.0 < number < math.inf):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def working_copy(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A detached float32 copy of ``x`` on ``device``: the methods never touch the caller's tensor."""
    return x.detach().to(device=device, dtype=torch.float32).clone()


# ---------------------------------------------------------------------------------------------
# the valid value box


def resolve_bounds(bounds: Bounds | None, channels: int, device: torch.device | str = "cpu"
                   ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Normalises ``bounds`` to two (1, C, 1, 1) float32 tensors (low, high), or None.

    Args:
        bounds: None, or (low, high) where each is a number, a sequence of C numbers or a tensor
            with C elements (e.g. :meth:`Preprocessing.bounds`).
        channels: C.

    Raises:
        ValueError: not a pair, the wrong number of entries, or low >= high somewhere.
    """
    if bounds is None:
        return None
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(f"bounds must be a pair (low, high), got {bounds!r}")
    pair = []
    for side, value in zip(("low", "high"), bounds):
        t = torch.as_tensor(value, dtype=torch.float32).flatten().to(device)
        if t.numel() == 1:
            t = t.expand(channels)
        if t.numel() != channels:
            raise ValueError(f"bounds {side} must have 1 or {channels} entries (one per channel), got {t.numel()}")
        pair.append(t.reshape(1, channels, 1, 1).clone())
    low, high = pair
    if not bool(torch.isfinite(low).all() and torch.isfinite(high).all()) or bool((low >= high).any()):
        raise ValueError(f"bounds must be finite with low < high in every channel, got {bounds!r}")
    return low, high


def clamp_to_bounds(x: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """``x`` clamped channel-wise into resolved ``bounds`` (unchanged for None); not in place."""
    if bounds is None:
        return x
    return torch.maximum(torch.minimum(x, bounds[1]), bounds[0])


def value_range(x: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """The input range used to scale noise and steps: (1, C, 1, 1) high - low from ``bounds``,
    else (N, 1, 1, 1) max - min of each image of ``x`` (1 for a constant image)."""
    if bounds is not None:
        return bounds[1] - bounds[0]
    flat = x.detach().flatten(1)
    span = flat.max(dim=1).values - flat.min(dim=1).values
    return torch.where(span > 0, span, torch.ones_like(span)).view(-1, 1, 1, 1)


# ---------------------------------------------------------------------------------------------
# cs231n regularisers


def roll(x: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """Shifts images ``ox`` pixels right and ``oy`` down with wrap-around (cs231n's jitter)."""
    return torch.roll(x, shifts=(oy, ox), dims=(2, 3))


def random_roll(x: torch.Tensor, max_jitter: int, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, tuple[int, int]]:
    """``roll`` by (ox, oy) drawn uniformly from [-max_jitter, max_jitter]; returns the image and
    (ox, oy) so the caller can undo the shift with ``roll(x, -ox, -oy)``."""
    if max_jitter <= 0:
        return x, (0, 0)
    ox, oy = (int(v) for v in torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator))
    return roll(x, ox, oy), (ox, oy)


def gaussian_kernel1d(sigma: float, radius: int | None = None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian of standard deviation ``sigma`` over [-radius, radius]
    (radius defaults to ceil(3 sigma), at least 1)."""
    sigma = check_positive(sigma, "sigma")
    radius = max(1, math.ceil(3 * sigma)) if radius is None else radius
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (weights / weights.sum()).to(dtype=dtype, device=device)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of each channel (reflect padding, replicate where the image is
    smaller than the kernel). x: (N, C, H, W) -> same shape.

    Raises:
        ValueError: ``sigma`` not a finite number > 0.
    """
    kernel = gaussian_kernel1d(sigma, dtype=x.dtype, device=x.device)
    radius = kernel.numel() // 2
    channels = x.shape[1]
    mode = "reflect" if min(x.shape[2:]) > radius else "replicate"
    out = F.pad(x, (radius, radius, radius, radius), mode=mode)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


# ---------------------------------------------------------------------------------------------
# Lucid-style random transformations: callables (x, generator) -> x


class Pad:
    """Pads every side by ``width`` pixels; ``mode`` as in ``F.pad`` ("reflect" suits any input
    space; "constant" fills with ``value``)."""

    def __init__(self, width: int, mode: str = "reflect", value: float = 0.0) -> None:
        self.width = check_int(width, "width", minimum=0)
        self.mode, self.value = mode, value

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.width == 0:
            return x
        mode = self.mode if self.mode == "constant" or min(x.shape[2:]) > self.width else "replicate"
        value = self.value if mode == "constant" else None
        return F.pad(x, (self.width,) * 4, mode=mode, value=value)


class Jitter:
    """Random crop ``d`` pixels smaller along each axis (Lucid's jitter: a random translation
    without wrap-around); images not larger than ``d`` are returned unchanged."""

    def __init__(self, d: int) -> None:
        self.d = check_int(d, "d")

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h, w = x.shape[2:]
        if min(h, w) <= self.d:
            return x
        dy, dx = (int(v) for v in torch.randint(0, self.d + 1, (2,), generator=generator))
        return x[:, :, dy:dy + h - self.d, dx:dx + w - self.d]


class RandomScale:
    """Bilinear resize by a factor drawn from ``scales``."""

    def __init__(self, scales: Sequence[float]) -> None:
        if len(scales) == 0:
            raise ValueError("scales must not be empty")
        self.scales = [check_positive(s, "scales") for s in scales]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        scale = self.scales[int(torch.randint(len(self.scales), (1,), generator=generator))]
        size = [max(1, round(s * scale)) for s in x.shape[2:]]
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class RandomRotate:
    """Rotation about the centre by an angle (degrees) drawn from ``angles``; corners are filled by
    the border pixels."""

    def __init__(self, angles: Sequence[float]) -> None:
        if len(angles) == 0:
            raise ValueError("angles must not be empty")
        self.angles = [float(a) for a in angles]

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        angle = math.radians(self.angles[int(torch.randint(len(self.angles), (1,), generator=generator))])
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Compose:
    """Applies ``transforms`` in order, passing the same generator to each."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for transform in self.transforms:
            x = transform(x, generator)
        return x


def standard_transforms() -> Compose:
    """The customary feature-visualisation chain: pad 12 (reflect), jitter 8, scale 0.9..1.1,
    rotate -10..10 degrees, jitter 4."""
    return Compose([Pad(12), Jitter(8), RandomScale([1 + (i - 5) / 50 for i in range(11)]),
                    RandomRotate(list(range(-10, 11))), Jitter(4)])


# ---------------------------------------------------------------------------------------------
# decorrelated colour + Fourier parameterisation


def correlate_colors(x: torch.Tensor) -> torch.Tensor:
    """Decorrelated 3-channel batch -> RGB with natural-image colour correlation. x: (N, 3, H, W)."""
    m = _COLOR_CORRELATION.to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, x)


def decorrelate_colors(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`correlate_colors`. x: (N, 3, H, W)."""
    m = torch.linalg.inv(_COLOR_CORRELATION).to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,njhw->nihw", m, x)


def spectrum_scale(height: int, width: int, decay: float = 1.0, device=None) -> torch.Tensor:
    """Per-frequency scale 1 / max(f, 1/max(H, W))^decay, (H, W // 2 + 1), f in cycles per pixel:
    a unit-variance spectrum scaled by it has the 1/f amplitude fall-off of natural images."""
    fy = torch.fft.fftfreq(height, device=device).view(-1, 1)
    fx = torch.fft.rfftfreq(width, device=device).view(1, -1)
    freq = torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / max(height, width))
    return freq.pow(-decay)


def spectrum_to_image(spectrum: torch.Tensor, size: tuple[int, int], decay: float = 1.0) -> torch.Tensor:
    """Real (N, C, H, W // 2 + 1, 2) scaled spectrum -> (N, C, H, W) image (orthonormal inverse FFT)."""
    scale = spectrum_scale(*size, decay=decay, device=spectrum.device)
    return torch.fft.irfft2(torch.view_as_complex(spectrum.contiguous()) * scale, s=size, norm="ortho")


def image_to_spectrum(image: torch.Tensor, decay: float = 1.0) -> torch.Tensor:
    """Inverse of :func:`spectrum_to_image`: (N, C, H, W) -> (N, C, H, W // 2 + 1, 2)."""
    scale = spectrum_scale(*image.shape[2:], decay=decay, device=image.device)
    return torch.view_as_real(torch.fft.rfft2(image, norm="ortho") / scale).contiguous()


class FourierImage(nn.Module):
    """Image batch parameterised by a scaled Fourier spectrum in a decorrelated colour space.

    ``forward()`` decodes: spectrum -> (inverse FFT, 1/f^decay scaling) -> colour correlation
    (3 channels) -> the model's input space: ``low + (high - low) * sigmoid(.)`` when ``bounds``
    are given (the image is then always valid), the decoded values as they are otherwise.
    Gradient steps on this parameterisation favour low frequencies and natural colours.

    Args:
        shape: (N, C, H, W) of the decoded images.
        decay: exponent of the 1/f amplitude fall-off.
        decorrelate: use the colour decorrelation; None means "when C == 3".
        bounds: model-space (low, high) box, see :func:`resolve_bounds`.
        std: standard deviation of the random initial spectrum.
        generator: for the random initialisation.

    Raises:
        ValueError: bad shape, ``decorrelate=True`` with C != 3, bad bounds.
    """

    def __init__(self, shape: Sequence[int], decay: float = 1.0, decorrelate: bool | None = None,
                 bounds: Bounds | None = None, std: float = 0.01,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if len(shape) != 4 or any(int(s) < 1 for s in shape):
            raise ValueError(f"shape must be (N, C, H, W) with positive sizes, got {tuple(shape)}")
        n, c, h, w = (int(s) for s in shape)
        if decorrelate is None:
            decorrelate = c == 3
        if decorrelate and c != 3:
            raise ValueError(f"colour decorrelation needs 3 channels, got {c}")
        self.size, self.decay, self.decorrelate = (h, w), float(decay), bool(decorrelate)
        resolved = resolve_bounds(bounds, c)
        self.register_buffer("low", None if resolved is None else resolved[0])
        self.register_buffer("high", None if resolved is None else resolved[1])
        init = torch.randn((n, c, h, w // 2 + 1, 2), generator=generator) * std
        self.spectrum = nn.Parameter(init)

    def forward(self) -> torch.Tensor:
        x = spectrum_to_image(self.spectrum, self.size, self.decay)
        if self.decorrelate:
            x = correlate_colors(x)
        if self.low is not None:
            x = self.low + (self.high - self.low) * torch.sigmoid(x)
        return x

    @torch.no_grad()
    def set_images(self, images: torch.Tensor, eps: float = 1e-4) -> FourierImage:
        """Sets the spectrum so that ``forward()`` returns ``images`` (values outside ``bounds`` are
        first clamped to ``eps`` of the range inside it). images: (N, C, H, W) of ``shape``."""
        if tuple(images.shape) != (self.spectrum.shape[0], self.spectrum.shape[1], *self.size):
            raise ValueError(f"images must have shape {(self.spectrum.shape[0], self.spectrum.shape[1], *self.size)}, "
                             f"got {tuple(images.shape)}")
        x = images.to(self.spectrum)
        if self.low is not None:
            unit = ((x - self.low) / (self.high - self.low)).clamp(eps, 1 - eps)
            x = torch.log(unit) - torch.log1p(-unit)
        if self.decorrelate:
            x = decorrelate_colors(x)
        self.spectrum.copy_(image_to_spectrum(x, self.decay))
        return self

    @classmethod
    def from_images(cls, images: torch.Tensor, decay: float = 1.0, decorrelate: bool | None = None,
                    bounds: Bounds | None = None) -> FourierImage:
        """The parameterisation whose ``forward()`` returns ``images`` (the inverse map)."""
        module = cls(images.shape, decay=decay, decorrelate=decorrelate, bounds=bounds, std=0.0)
        return module.to(images.device).set_images(images)
