"""The VAE kind: an encoder and a decoder, so images reach the latent in one pass."""

from __future__ import annotations

from typing import Any

import torch

from genlab.attributes import build_bank
from genlab.kinds.base import ModelKind, ServiceError, register
from genlab.latent import decode, encode
from genlab.models.vae import kl_to_standard_normal, negative_elbo_terms, reparameterize


class VAEKind(ModelKind):
    """A variational autoencoder (genlab.models.vae): encodes, decodes, explains its ELBO."""

    name = "vae"
    label = "VAE"
    description = "variational autoencoder (VAE)"
    encoder = True
    test_codes = True

    @property
    def vae(self) -> torch.nn.Module:
        """The VAE itself (a latent prior reaches its VAE through this too)."""
        return self.model

    @property
    def invertible(self) -> bool:
        return True

    @property
    def sliders(self) -> bool:
        return True

    @property
    def editable(self) -> bool:
        return True

    @property
    def can_inpaint(self) -> bool:
        return True

    def kl_per_dim(self, metrics: dict[str, Any]) -> list[float] | None:
        kl = metrics.get("kl_per_dim")
        return [float(v) for v in kl] if isinstance(kl, list) and len(kl) == self.latent_dim else None

    def web_decoder(self) -> torch.nn.Module:
        return self.vae

    @classmethod
    def usage(cls, model_config):
        return [f"z = torch.randn(16, {model_config.get('latent_dim', 'ckpt.model.latent_dim')})",
                "images = ckpt.model.decode(z)  # (16, C, H, W) in [0, 1]"]

    def likelihood(self, images: torch.Tensor, seed: int = 0) -> float:
        """-ELBO (beta = 1, one draw of z): an upper bound on -log p(x), nats per image."""
        from genlab.metrics import negative_elbo

        return negative_elbo(self.vae, images.to(self.checkpoint.device), seed=seed)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        return decode(self.vae, z)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return encode(self.vae, images)

    def how(self, steps: int, seconds: float | None) -> str:
        return "The VAE encodes each image (the posterior mean)."

    def inpaint(self, image, hidden, fills, steps, seed, progress, classifier):
        from genlab.inpainting import inpaint_vae

        return inpaint_vae(self.vae, image, hidden, fills=fills, steps=steps, seed=seed, progress=progress,
                           original=image, classifier=classifier)

    def fill_description(self) -> str:
        return "VAE: fitting its posterior to the visible pixels"

    def attribute_bank(self, data, classifier, num_samples, options=None):
        bank = build_bank(self.vae, "vae", data(), classifier=classifier, num_samples=num_samples,
                          **(options or {}))
        bank.kind = self.name
        return bank

    # -- the VAE's insides (the "How a VAE works" lesson) ---------------------------------------------
    @torch.no_grad()
    def explain(self, image: torch.Tensor, eps: torch.Tensor):
        from genlab.kinds.base import VAEExplanation

        model = self.vae
        x = image[None].to(self.checkpoint.device, torch.float32)
        mu, logvar = model.encode(x)
        z = reparameterize(mu, logvar, eps[None].to(mu))
        logits = model.decode_logits(z)
        terms = negative_elbo_terms(logits, x, mu, logvar)
        return VAEExplanation(mu[0].cpu(), torch.exp(0.5 * logvar)[0].cpu(), eps.float().cpu(), z[0].cpu(),
                              torch.sigmoid(logits[0]).cpu(), float(terms.reconstruction),
                              kl_to_standard_normal(mu, logvar)[0].cpu())

    @torch.no_grad()
    def reconstruction_terms(self, images: torch.Tensor) -> tuple[torch.Tensor, float, torch.Tensor]:
        model = self.vae
        x = images.to(self.checkpoint.device, torch.float32)
        mu, logvar = model.encode(x)
        logits = model.decode_logits(mu)  # the mean code: what the model keeps of each image
        terms = negative_elbo_terms(logits, x, mu, logvar)
        return torch.sigmoid(logits).cpu(), float(terms.reconstruction), kl_to_standard_normal(mu, logvar).mean(0).cpu()


register(VAEKind)
__all__ = ["VAEKind", "ServiceError"]
