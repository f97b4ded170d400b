import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from pyfast.data.digits import make_digits
from pyfast.generate.vae import VAE, elbo_terms


def test_shapes():
    vae = VAE(channels=3, image_size=32, latent_dim=5, width=4, hidden=16)
    x = torch.rand(2, 3, 32, 32)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (2, 5)
    logits, mu2, _ = vae(x)
    assert logits.shape == x.shape and torch.equal(mu, mu2)
    samples = vae.sample(4, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 3, 32, 32) and samples.min() >= 0 and samples.max() <= 1
    assert torch.equal(samples, vae.sample(4, generator=torch.Generator().manual_seed(0)))


def test_elbo_terms_match_their_definitions():
    vae = VAE(latent_dim=4, width=4, hidden=16)
    x = torch.rand(3, 1, 28, 28)
    terms = elbo_terms(vae, x, torch.Generator().manual_seed(1))
    logits, mu, logvar = vae(x, torch.Generator().manual_seed(1))  # the same noise
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 3
    q = Normal(mu, torch.exp(0.5 * logvar))
    kl = kl_divergence(q, Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum() / 3
    torch.testing.assert_close(terms["reconstruction"], recon)
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["elbo"], -(recon + kl).detach())
    assert terms["kl"] >= 0


def test_reparameterisation_passes_gradients_to_mu_and_logvar():
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(0)).square().sum().backward()
    assert mu.grad is not None and logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_training_improves_the_elbo():
    vae = VAE(latent_dim=4, width=4, hidden=32)
    x = torch.from_numpy(make_digits(16, variant="binary")[0]).float()
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        terms = elbo_terms(vae, x)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = terms["elbo"].item() if first is None else first
    assert terms["elbo"].item() > first + 20  # nats per image


def test_bad_inputs():
    vae = VAE(latent_dim=4, width=4, hidden=16)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 28, 28\)"):
        vae.encode(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        elbo_terms(vae, torch.rand(2, 1, 28, 28) * 255)
    with pytest.raises(ValueError, match=r"z must have shape"):
        vae.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="multiple of 4"):
        VAE(image_size=30)
    with pytest.raises(ValueError, match="n must be"):
        vae.sample(0)
