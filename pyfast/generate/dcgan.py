"""DCGAN (Radford, Metz & Chintala 2016) sized for small images (28x28, 32x32, 64x64, ...).

The generator maps a latent vector to an image with transposed convolutions, batch
normalisation and ReLU, and a tanh output in [-1, 1]; the discriminator is strided
convolutions with LeakyReLU(0.2) (batch normalisation on all but its first layer) ending in
one logit. No pooling and no fully connected hidden layers, weights drawn from N(0, 0.02),
as the paper prescribes. The losses are the non-saturating GAN losses of Goodfellow et al.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int

# Sizes of the first feature map the generator draws (and the discriminator's last one).
_BASE_SIZES = (4, 5, 6, 7)


def spatial_layout(image_size: int) -> tuple[int, int]:
    """``(base, doublings)`` with ``image_size == base * 2**doublings``, base in 4..7, doublings >= 2.

    Raises:
        ValueError: no such decomposition (e.g. 30); 28 = 7 * 4 and 32 = 4 * 8 work.
    """
    if isinstance(image_size, int) and not isinstance(image_size, bool) and image_size >= 16:
        doublings, base = 0, image_size
        while base > 7 and base % 2 == 0:
            base //= 2
            doublings += 1
        if base in _BASE_SIZES and doublings >= 2:
            return base, doublings
    raise ValueError(f"image_size must be 4..7 times a power of two >= 4 (e.g. 28, 32, 64), got {image_size!r}")


def init_dcgan_weights(module: nn.Module) -> None:
    """The paper's initialisation: convolutions N(0, 0.02); batch norm scale N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (N, latent_dim) -> images (N, channels, image_size, image_size) in [-1, 1].

    Args:
        latent_dim: length of z (drawn from N(0, I)).
        channels: 1 (grayscale) or 3 (RGB) output channels.
        image_size: output side, see :func:`spatial_layout` (28 and 32 are the usual ones).
        width: channels of the last hidden layer; each earlier layer has twice as many.

    Raises:
        ValueError: a non-positive size or an ``image_size`` without a layout.
    """

    def __init__(self, latent_dim: int = 64, channels: int = 1, image_size: int = 28, width: int = 32) -> None:
        super().__init__()
        check_int(latent_dim, "latent_dim")
        check_int(channels, "channels")
        check_int(width, "width")
        base, doublings = spatial_layout(image_size)
        self.latent_dim, self.channels, self.image_size, self.width = latent_dim, channels, image_size, width
        hidden = width * 2 ** (doublings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, hidden, base, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(True),
        ]
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(hidden // 2), nn.ReLU(True)]
            hidden //= 2
        layers += [nn.ConvTranspose2d(hidden, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def config(self) -> dict[str, int]:
        """The constructor arguments (to rebuild the model from a checkpoint)."""
        return {"latent_dim": self.latent_dim, "channels": self.channels, "image_size": self.image_size, "width": self.width}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """images (N, channels, image_size, image_size) in [-1, 1] -> logits (N,) (real > 0).

    Args:
        channels: input channels.
        image_size: input side, see :func:`spatial_layout`.
        width: channels of the first convolution; each later one has twice as many.

    Raises:
        ValueError: a non-positive size or an ``image_size`` without a layout.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, width: int = 32) -> None:
        super().__init__()
        check_int(channels, "channels")
        check_int(width, "width")
        base, doublings = spatial_layout(image_size)
        self.channels, self.image_size, self.width = channels, image_size, width
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        hidden = width
        for _ in range(doublings - 1):
            layers += [nn.Conv2d(hidden, hidden * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(hidden * 2), nn.LeakyReLU(0.2, True)]
            hidden *= 2
        layers.append(nn.Conv2d(hidden, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def config(self) -> dict[str, int]:
        return {"channels": self.channels, "image_size": self.image_size, "width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return self.net(x).flatten()


def discriminator_loss(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
    """Binary cross-entropy of telling ``real`` (label 1) from ``fake`` (label 0), both (N, C, H, W).

    ``fake`` is detached: the step trains the discriminator only.

    Returns:
        ``{"d_loss": real + fake terms, "d_real": mean D(real) probability, "d_fake": mean D(fake)}``.
    """
    real_logits = discriminator(real)
    fake_logits = discriminator(fake.detach())
    loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    with torch.no_grad():
        d_real, d_fake = torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()
    return {"d_loss": loss, "d_real": d_real, "d_fake": d_fake}


def generator_loss(discriminator: nn.Module, fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss: -log D(G(z)), averaged over the batch."""
    logits = discriminator(fake)
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> [0, 1]."""
    return (images + 1) * 0.5
