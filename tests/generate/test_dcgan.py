import pytest
import torch

from pyfast.generate.dcgan import (Discriminator, Generator, discriminator_loss, generator_loss, spatial_layout,
                                   to_unit_range)


@pytest.mark.parametrize("size, layout", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (48, (6, 3))])
def test_spatial_layout(size, layout):
    assert spatial_layout(size) == layout


@pytest.mark.parametrize("size", [30, 14, 8, 0])
def test_spatial_layout_rejects_sizes_without_one(size):
    with pytest.raises(ValueError, match="image_size"):
        spatial_layout(size)


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 1), (32, 3)])
def test_output_shapes_and_range(size, channels):
    g = Generator(latent_dim=10, channels=channels, image_size=size, width=8)
    d = Discriminator(channels=channels, image_size=size, width=8)
    images = g(torch.randn(3, 10) * 5)
    assert images.shape == (3, channels, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert d(images).shape == (3,)
    assert g.config() == {"latent_dim": 10, "channels": channels, "image_size": size, "width": 8}


def test_paper_initialisation():
    g = Generator(width=16)
    first = g.net[0].weight
    assert abs(first.std().item() - 0.02) < 0.002 and abs(first.mean().item()) < 0.002


def test_bad_inputs():
    g, d = Generator(latent_dim=10, width=4), Discriminator(width=4)
    with pytest.raises(ValueError, match=r"z must have shape \(N, 10\)"):
        g(torch.randn(2, 11))
    with pytest.raises(ValueError, match="x must have shape"):
        d(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="width"):
        Generator(width=0)


def test_discriminator_learns_a_fixed_batch_and_generator_steps_fool_it():
    g, d = Generator(latent_dim=8, width=8), Discriminator(width=8)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    fake = g(torch.randn(8, 8)).detach()
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    losses = []
    for _ in range(6):
        terms = discriminator_loss(d, real, fake)
        opt_d.zero_grad()
        terms["d_loss"].backward()
        opt_d.step()
        losses.append(terms["d_loss"].item())
    assert losses[-1] < 0.5 * losses[0]
    assert terms["d_real"] > terms["d_fake"]
    # With the discriminator frozen, generator steps lower the non-saturating loss.
    d.eval().requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-3, betas=(0.5, 0.999))
    z = torch.randn(8, 8)
    g_losses = []
    for _ in range(6):
        loss = generator_loss(d, g(z))
        opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        g_losses.append(loss.item())
    assert g_losses[-1] < g_losses[0]


def test_discriminator_loss_does_not_train_the_generator():
    g, d = Generator(latent_dim=8, width=4), Discriminator(width=4)
    fake = g(torch.randn(4, 8))
    discriminator_loss(d, torch.zeros(4, 1, 28, 28), fake)["d_loss"].backward()
    assert all(p.grad is None for p in g.parameters())
    assert torch.equal(to_unit_range(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]))
