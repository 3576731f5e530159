"""A convolutional variational autoencoder with Bernoulli outputs.

Encoder: image (B, C, H, W) -> (mu, logvar), each (B, latent_dim).
Reparameterization: z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2).
Decoder: z (B, latent_dim) -> logits (B, C, H, W) of independent Bernoulli pixels.
The loss is the negative ELBO, reported in nats per image and split into its terms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.models.common import base_resolution, check_image_shape, num_stages


@dataclass
class VAEConfig:
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 16
    base_width: int = 32  # channels after the first stride-2 conv; doubled at each stage
    hidden_dim: int = 256  # fully connected layer between the conv stack and the latent
    beta: float = 1.0  # weight of the KL term (beta-VAE); 1.0 is the true ELBO

    def __post_init__(self) -> None:
        check_image_shape(self.image_size, self.channels)
        if self.latent_dim < 1:
            raise ValueError(f"latent_dim must be at least 1, got {self.latent_dim}.")
        if self.beta < 0:
            raise ValueError(f"beta must be non-negative, got {self.beta}.")


@dataclass
class VAELoss:
    """Per-image averages over a batch, in nats. total = reconstruction + beta * kl."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor

    @property
    def negative_elbo(self) -> torch.Tensor:
        """-ELBO = reconstruction + kl (beta = 1), an upper bound on -log p(x)."""
        return self.reconstruction + self.kl


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2). All tensors (B, latent_dim)."""
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form KL(N(mu, sigma^2) || N(0, I)) per dimension, shape like mu (nats)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def negative_elbo_terms(logits: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                        beta: float = 1.0) -> VAELoss:
    """Loss terms from a forward pass: logits and x (B, C, H, W), mu and logvar (B, D)."""
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = kl_to_standard_normal(mu, logvar).sum() / x.shape[0]
    return VAELoss(total=recon + beta * kl, reconstruction=recon, kl=kl)


class VAE(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        stages = num_stages(config.image_size)
        res = base_resolution(config.image_size)
        widths = [config.base_width * 2**i for i in range(stages)]
        self._top_width, self._res = widths[-1], res

        encoder: list[nn.Module] = []
        in_ch = config.channels
        for w in widths:
            encoder += [nn.Conv2d(in_ch, w, 4, stride=2, padding=1), nn.SiLU()]
            in_ch = w
        self.encoder = nn.Sequential(
            *encoder,
            nn.Flatten(),
            nn.Linear(widths[-1] * res * res, config.hidden_dim),
            nn.SiLU(),
        )
        self.to_mu = nn.Linear(config.hidden_dim, config.latent_dim)
        self.to_logvar = nn.Linear(config.hidden_dim, config.latent_dim)

        self.from_latent = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden_dim),
            nn.SiLU(),
            nn.Linear(config.hidden_dim, widths[-1] * res * res),
            nn.SiLU(),
        )
        decoder: list[nn.Module] = []
        for w_in, w_out in zip(widths[::-1], widths[::-1][1:]):
            decoder += [nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1), nn.SiLU()]
        decoder += [nn.ConvTranspose2d(widths[0], config.channels, 4, stride=2, padding=1)]
        self.decoder = nn.Sequential(*decoder)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def top_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the feature map that `from_latent` is reshaped to before
        the transposed convolutions (what an exporter of the decoding path needs)."""
        return (self._top_width, self._res, self._res)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) in [0, 1] -> (mu, logvar), each (B, latent_dim)."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(-30.0, 20.0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> Bernoulli logits (B, C, H, W)."""
        h = self.from_latent(z).view(-1, self._top_width, self._res, self._res)
        return self.decoder(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (B, latent_dim) -> image means (B, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (B, C, H, W) -> (logits, mu, logvar); eps is drawn from `generator`."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device="cpu").to(mu.device)
        z = reparameterize(mu, logvar, eps)
        return self.decode_logits(z), mu, logvar

    def loss(
        self, x: torch.Tensor, generator: torch.Generator | None = None, beta: float | None = None
    ) -> VAELoss:
        """Negative ELBO of a batch x: (B, C, H, W) in [0, 1], averaged per image."""
        logits, mu, logvar = self(x, generator)
        return negative_elbo_terms(logits, x, mu, logvar, self.config.beta if beta is None else beta)

    @torch.no_grad()
    def iwae_bound(
        self, x: torch.Tensor, num_samples: int = 64, generator: torch.Generator | None = None,
        chunk: int = 64,
    ) -> torch.Tensor:
        """Importance-weighted lower bound on log p(x) (Burda et al. 2016), nats per image.

        x: (B, C, H, W) -> (B,). With num_samples=1 this is the ELBO; it tightens as k grows.
        """
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        log_weights = []
        for start in range(0, num_samples, chunk):
            k = min(chunk, num_samples - start)
            eps = torch.randn((k, *mu.shape), generator=generator, device="cpu").to(mu.device)
            z = mu + std * eps  # (k, B, D)
            logits = self.decode_logits(z.reshape(-1, mu.shape[1])).view(k, *x.shape)
            log_px_z = -F.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none"
            ).flatten(2).sum(-1)
            log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_qz_x = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_weights.append(log_px_z + log_pz - log_qz_x)
        lw = torch.cat(log_weights, dim=0)
        return torch.logsumexp(lw, dim=0) - math.log(num_samples)
