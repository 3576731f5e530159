"""Baselines for bench/quality.py, written from their published descriptions (no code copied).

ReferenceVAE: the VAE of pytorch/examples (vae/main.py): an MLP 784-400-20 encoder and
20-400-784 decoder with ReLU, a sigmoid output, the loss summed binary cross-entropy + KL,
Adam 1e-3, batch 128, images in [0, 1] (not binarized).

DCGAN28: the DCGAN of pytorch/examples (dcgan/main.py) scaled from 64x64 to 28x28 by keeping
its last two stages: the generator is a ConvTranspose stack with BatchNorm + ReLU and a Tanh
output (images in [-1, 1]); the discriminator is convolutions with BatchNorm (not on the first
layer) + LeakyReLU(0.2), no spectral norm; weights from N(0, 0.02), BatchNorm scales from
N(1, 0.02); binary cross-entropy, Adam 2e-4 with beta1 = 0.5; the generator step reuses the
discriminator step's fake batch, real and fake go through D in separate batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- the examples' VAE


class ReferenceVAE(nn.Module):
    """x (B, 1, 28, 28) in [0, 1] -> (reconstruction (B, 784) in [0, 1], mu (B, 20), logvar (B, 20))."""

    def __init__(self, hidden: int = 400, latent: int = 20, pixels: int = 784) -> None:
        super().__init__()
        self.pixels = pixels
        self.fc1 = nn.Linear(pixels, hidden)
        self.fc21 = nn.Linear(hidden, latent)  # mu
        self.fc22 = nn.Linear(hidden, latent)  # log variance
        self.fc3 = nn.Linear(latent, hidden)
        self.fc4 = nn.Linear(hidden, pixels)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.fc1(x.reshape(-1, self.pixels)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def reference_vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Summed (not averaged) negative ELBO of a batch, as the examples train it: BCE + KL, nats."""
    bce = F.binary_cross_entropy(recon, x.reshape(recon.shape), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


# --------------------------------------------------------------------------- DCGAN at 28x28


@dataclass
class DCGANConfig:
    latent_dim: int = 100  # nz in the examples
    generator_width: int = 64  # ngf
    discriminator_width: int = 64  # ndf
    channels: int = 1


class DCGANGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, C, 28, 28) in [-1, 1]: 1x1 -> 7x7 -> 14x14 -> 28x28."""

    def __init__(self, c: DCGANConfig) -> None:
        super().__init__()
        self.config = c
        w = c.generator_width
        self.net = nn.Sequential(
            nn.ConvTranspose2d(c.latent_dim, 2 * w, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
            nn.ConvTranspose2d(w, c.channels, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """images (B, C, 28, 28) in [-1, 1] -> real/fake logits (B,): 28 -> 14 -> 7 -> 1."""

    def __init__(self, c: DCGANConfig) -> None:
        super().__init__()
        w = c.discriminator_width
        self.net = nn.Sequential(
            nn.Conv2d(c.channels, w, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * w, 1, 7, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def dcgan_init(module: nn.Module, generator: torch.Generator) -> None:
    """The examples' initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(1.0 + torch.randn(m.weight.shape, generator=generator) * 0.02)
                m.bias.zero_()


class DCGAN28:
    """The two networks, their optimizers and the examples' training step."""

    def __init__(self, config: DCGANConfig | None = None, seed: int = 0, lr: float = 2e-4) -> None:
        self.config = config or DCGANConfig()
        g = torch.Generator().manual_seed(seed)
        self.G, self.D = DCGANGenerator(self.config), DCGANDiscriminator(self.config)
        dcgan_init(self.G, g)
        dcgan_init(self.D, g)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999))

    def step(self, x: torch.Tensor, g: torch.Generator) -> dict[str, float]:
        """One D update then one G update on a batch x (B, C, 28, 28) in [0, 1]."""
        real = x * 2.0 - 1.0
        b = real.shape[0]
        ones, zeros = torch.ones(b), torch.zeros(b)
        self.opt_d.zero_grad(set_to_none=True)
        loss_real = F.binary_cross_entropy_with_logits(self.D(real), ones)
        loss_real.backward()
        fake = self.G(torch.randn((b, self.config.latent_dim), generator=g))
        loss_fake = F.binary_cross_entropy_with_logits(self.D(fake.detach()), zeros)
        loss_fake.backward()
        self.opt_d.step()

        self.opt_g.zero_grad(set_to_none=True)
        loss_g = F.binary_cross_entropy_with_logits(self.D(fake), ones)  # non-saturating
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": (loss_real + loss_fake).item(), "loss_g": loss_g.item()}

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, latent_dim) -> images (N, C, 28, 28) in [0, 1], generator in eval mode."""
        self.G.eval()
        out = torch.cat([(self.G(z[i:i + 500]) + 1.0) / 2.0 for i in range(0, len(z), 500)])
        self.G.train()
        return out
