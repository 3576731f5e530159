"""Latent-space operations, apart from any UI: sampling, interpolation, directions, inversion.

Every function takes and returns plain tensors; latents are (B, latent_dim) float32.
Randomness comes from a seeded CPU `torch.Generator`, so a seed gives the same latent, and the
same picture, on any device.
"""

from __future__ import annotations

import torch


def sample_latents(count: int, latent_dim: int, seed: int, scale: float = 1.0,
                   device: str | torch.device = "cpu") -> torch.Tensor:
    """`count` draws from N(0, scale^2 I) -> (count, latent_dim), the same for a seed on any device."""
    g = torch.Generator().manual_seed(int(seed))
    return (torch.randn((count, latent_dim), generator=g) * scale).to(device)
