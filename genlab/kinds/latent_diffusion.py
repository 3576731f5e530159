"""The latent diffusion kind: a VAE whose N(0, I) prior is replaced by a learned flow-matching prior.

Its latent is the VAE's 16-d code, so everything a VAE offers works here (the encoder, sliders
decoded in the browser by the VAE's decoder, attribute directions, the VAE's fill); what changes
is where samples come from (noise run through the prior's ODE to a code) and the walk between two
codes (each code run up the ODE to its noise, a spherical walk between the noises, back down).
"""

from __future__ import annotations

import json
from typing import Any

import torch

from genlab.checkpoints import CONFIG_NAME
from genlab.kinds.base import register
from genlab.kinds.vae import VAEKind
from genlab.latent import interpolate, sample_latents


class LatentDiffusionKind(VAEKind):
    """genlab.models.diffusion.LatentDiffusion with its VAE attached (by load_checkpoint)."""

    name = "latent-diffusion"
    label = "latent diffusion"
    description = "latent diffusion prior (flow matching over a VAE's codes; its VAE must be beside it)"

    @property
    def vae(self) -> torch.nn.Module:
        return self.model._need_vae()

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    def describe(self, name: str, dataset: str) -> str:
        return f"{dataset} · latent diffusion · {self.config.vae}'s {self.latent_dim}-d latent · {name}"

    @property
    def sample_steps(self) -> int:
        return int(self.config.sample_steps)

    def network_passes(self, steps: int | None = None) -> int:
        return 2 * int(steps or self.sample_steps) - 1 + 1  # the prior's Heun steps, then the VAE's decoder

    def kl_per_dim(self, metrics: dict[str, Any]) -> list[float] | None:
        """The VAE's, from its checkpoint beside this one."""
        try:
            vae_info = json.loads((self.checkpoint.path.parent / self.config.vae / CONFIG_NAME).read_text())
        except (OSError, ValueError):
            return None
        return super().kl_per_dim(vae_info.get("metrics", {}))

    def from_noise(self, noise: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Noise (B, D) -> VAE codes (B, D) through the learned prior's ODE (`steps` Heun steps)."""
        return self.model.noise_to_latent(noise.float(), steps or self.sample_steps).cpu()

    def sample(self, count: int, seed: int, scale: float = 1.0, steps: int | None = None) -> torch.Tensor:
        return self.decode(self.from_noise(sample_latents(count, self.latent_dim, seed, scale=scale), steps))

    @classmethod
    def usage(cls, model_config):
        return ["from genlab.models.diffusion import sample_latent",
                "images = sample_latent(ckpt.model, 16, generator=torch.Generator().manual_seed(0))  # via its VAE"]

    def likelihood(self, images: torch.Tensor, seed: int = 0) -> None:
        return None  # its VAE's ELBO is under N(0, I), not under this prior

    def no_likelihood(self) -> str:
        return "not computed: the ELBO under a learned prior needs the prior's ODE likelihood"

    def how(self, steps: int, seconds: float | None) -> str:
        return ("Its VAE encodes each image (the posterior mean); a walk between two codes goes through the "
                "prior's noise.")

    def interpolate(self, z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str) -> torch.Tensor:
        """Codes z0, z1 (D,) up the prior's ODE to their noises, a walk there, each point back down."""
        noise = self.model.latent_to_noise(torch.stack([z0, z1]).float()).cpu()
        return self.model.noise_to_latent(interpolate(noise[0], noise[1], steps, mode)).cpu()

    def fill_description(self) -> str:
        return "Latent diffusion: its VAE fits its posterior to the visible pixels"


register(LatentDiffusionKind)
