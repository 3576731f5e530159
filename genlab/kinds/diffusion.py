"""The pixel diffusion kind: a flow-matching U-Net whose latent is its starting noise (784-d for MNIST).

Sampling solves the model's ODE from noise in `steps` Heun steps (2 * steps - 1 network passes),
so a seed and a step count always give the same picture. Running the same ODE backwards turns an
image into the noise that makes it (`invert`): deterministic, no search, and what Interpolate
needs (both images to noise, a spherical walk between the noises, each point sampled). There are
no sliders: one dimension of the noise is one pixel's share of the start, and means nothing alone.
"""

from __future__ import annotations

import time

import torch

from genlab.kinds.base import Inverted, ModelKind, register
from genlab.models import diffusion as D


class DiffusionKind(ModelKind):
    """A pixel diffusion model (genlab.models.diffusion.DiffusionUNet), unconditional."""

    name = "diffusion"
    label = "diffusion model"
    description = "diffusion model (a U-Net trained by flow matching)"
    latent_word = "noise"

    @property
    def latent_dim(self) -> int:
        c = self.config
        return int(c.channels * c.image_size * c.image_size)

    @property
    def _shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.channels, c.image_size, c.image_size)

    @property
    def conditional(self) -> bool:
        return False  # a class-conditional U-Net also samples without a class (classifier-free guidance)

    @property
    def invertible(self) -> bool:
        return True

    @classmethod
    def usage(cls, model_config):
        return ["from genlab.models.diffusion import sample",
                f"images = sample(ckpt.model, 16, steps={model_config.get('sample_steps', 10)}, "
                "generator=torch.Generator().manual_seed(0))  # (16, C, H, W) in [0, 1]"]

    def no_likelihood(self) -> str:
        return "not computed: the ODE's exact likelihood needs a divergence at every step"

    def no_sliders(self, name: str) -> str:
        return (f"{name} is a diffusion model: its latent is the {self.latent_dim}-d starting noise, one number per "
                f"pixel that means nothing alone, so there are no sliders; Sample draws new noise (with a step "
                f"count), Interpolate walks between two images' noises, and Inpainting fills a hole.")

    def no_edits(self, name: str) -> str:
        return (f"{name} is a diffusion model: its {self.latent_dim}-d noise has no attribute directions to "
                f"find; a latent diffusion prior (a VAE with a learned prior) edits in its VAE's latent.")

    @property
    def can_inpaint(self) -> bool:
        return True

    @property
    def sample_steps(self) -> int:
        return int(self.config.sample_steps)

    def network_passes(self, steps: int | None = None) -> int:
        return 2 * int(steps or self.sample_steps) - 1  # Heun: two a step, one on the last

    def unsupported(self, name, what):
        from genlab.kinds.base import ServiceError

        return ServiceError(f"{what} is not offered for {name}: a diffusion model's latent is its "
                            f"{self.latent_dim}-d starting noise.")

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        """Noise (B, C*H*W) -> images by the ODE in `steps` Heun steps (default: the config's)."""
        noise = z.detach().float().reshape(z.shape[0], *self._shape)
        return D.generate(self.model, noise, steps or self.sample_steps).cpu()

    def reverse_process(self, seed: int, steps: int, count: int = 1) -> D.Trajectory:
        """`count` samples' way from the noise of `seed` to their images in `steps` Heun steps: the
        sampler step by step (states and the network's guesses, (steps + 1, count, C, H, W) each)."""
        return D.denoise_trajectory(self.model, count, steps, generator=torch.Generator().manual_seed(int(seed)))

    def invert(self, images: torch.Tensor, steps: int, progress=None) -> Inverted:
        """The ODE backwards with the model's own step count (the GAN's inversion `steps` do not
        apply: nothing is searched), then forwards again for the reconstruction."""
        start = time.perf_counter()
        if progress is not None:
            progress(0, 2)
        noise = D.invert(self.model, images.float(), self.sample_steps)
        if progress is not None:
            progress(1, 2)
        recon = D.generate(self.model, noise, self.sample_steps).cpu()
        if progress is not None:
            progress(2, 2)
        errors = (recon - images.cpu().float()).pow(2).flatten(1).mean(1).tolist()
        return Inverted(noise.flatten(1).cpu(), recon, errors, time.perf_counter() - start)

    def how(self, steps: int, seconds: float | None) -> str:
        took = "found earlier" if seconds is None else f"{seconds:.1f} s"
        return (f"A diffusion model has no encoder: each image was turned into its noise by running the sampler's "
                f"ODE backwards ({self.sample_steps} steps, deterministic, {took}).")

    def inpaint(self, image, hidden, fills, steps, seed, progress, classifier):
        from genlab.inpainting import inpaint_diffusion

        return inpaint_diffusion(self.model, image, hidden, fills=fills, seed=seed, progress=progress,
                                 original=image, classifier=classifier)

    def fill_description(self) -> str:
        return "Diffusion: sampling the hole, the visible pixels put back at every step"


register(DiffusionKind)
