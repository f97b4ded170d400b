"""Variational autoencoder (Kingma & Welling 2014) for small images.

A convolutional encoder gives the mean and log-variance of a diagonal Gaussian q(z|x); a
sample z = mu + sigma * eps (the reparameterisation trick) goes through a transposed-convolution
decoder to the logits of a Bernoulli likelihood p(x|z) over pixel intensities in [0, 1]. The
prior is N(0, I). The loss is the negative evidence lower bound, reported as its two terms:

    -ELBO = reconstruction + KL,  reconstruction = -E_q[log p(x|z)]  (one sample of z),
                                  KL = KL(q(z|x) || N(0, I))          (closed form),

both in nats per image. For binary images the Bernoulli likelihood is exact and the ELBO bounds
log p(x); for 8-bit images it is the usual relaxation (cross-entropy against intensities).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_int


class VAE(nn.Module):
    """Convolutional VAE: images (N, channels, image_size, image_size) in [0, 1] <-> z (N, latent_dim).

    Encoder: two stride-2 4x4 convolutions (width, 2*width channels) with ReLU, a hidden
    linear layer, then linear heads for mu and log-variance. Decoder: the mirror image.

    Args:
        channels: image channels (1 or 3).
        image_size: image side, a multiple of 4 (>= 8).
        latent_dim: length of z.
        width: channels of the first convolution.
        hidden: units of the hidden linear layer.

    Raises:
        ValueError: non-positive sizes or ``image_size`` not a multiple of 4.
    """

    def __init__(self, channels: int = 1, image_size: int = 28, latent_dim: int = 16, width: int = 16,
                 hidden: int = 128) -> None:
        super().__init__()
        check_int(channels, "channels")
        check_int(image_size, "image_size")
        check_int(latent_dim, "latent_dim")
        check_int(width, "width")
        check_int(hidden, "hidden")
        if image_size % 4 or image_size < 8:
            raise ValueError(f"image_size must be a multiple of 4 and >= 8, got {image_size}")
        self.channels, self.image_size, self.latent_dim, self.width, self.hidden = channels, image_size, latent_dim, width, hidden
        self._feature_shape = (2 * width, image_size // 4, image_size // 4)
        features = math.prod(self._feature_shape)
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(True),
            nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(True),
        )
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(True),
            nn.Linear(hidden, features), nn.ReLU(True),
            nn.Unflatten(1, self._feature_shape),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )

    def config(self) -> dict[str, int]:
        """The constructor arguments (to rebuild the model from a checkpoint)."""
        return {"channels": self.channels, "image_size": self.image_size, "latent_dim": self.latent_dim,
                "width": self.width, "hidden": self.hidden}

    def _check_images(self, x: torch.Tensor) -> None:
        expected = (self.channels, self.image_size, self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"x must have shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, C, H, W) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""
        self._check_images(x)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim) -> Bernoulli logits (N, C, H, W)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim) -> mean images (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I): a sample of q(z|x) differentiable in mu, logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (N, C, H, W) in [0, 1] -> (reconstruction logits (N, C, H, W), mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode_logits(self.reparameterize(mu, logvar, generator)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images (N, C, H, W) in [0, 1]: decoder means at z ~ N(0, I)."""
        check_int(n, "n")
        device = next(self.parameters()).device
        return self.decode(torch.randn(n, self.latent_dim, generator=generator, device=device))


def elbo_terms(model: VAE, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """The VAE loss on a batch, per image (averaged over the batch), in nats.

    Args:
        model: the VAE.
        x: (N, C, H, W) float in [0, 1].
        generator: source of the reparameterisation noise (None: torch's global one).

    Returns:
        ``{"loss": -ELBO, "reconstruction": -E_q log p(x|z), "kl": KL(q(z|x) || p(z)), "elbo": ELBO}``,
        0-dim tensors; ``loss`` is the one to minimise.

    Raises:
        ValueError: wrong shape or values outside [0, 1].
    """
    model._check_images(x)
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise ValueError("x must hold intensities in [0, 1]")
    logits, mu, logvar = model(x, generator)
    n = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    kl = 0.5 * torch.sum(mu.square() + logvar.exp() - 1.0 - logvar) / n
    loss = reconstruction + kl
    return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "elbo": -loss.detach()}
