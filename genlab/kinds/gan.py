"""The GAN kind: a generator only, so an image's latent is found by inversion (a search)."""

from __future__ import annotations

import torch

from genlab.attributes import build_bank
from genlab.kinds.base import Inverted, ModelKind, register
from genlab.latent import decode, invert

INVERSION_RESTARTS = 4  # GAN inversion: random starts per image


class GANKind(ModelKind):
    """A generative adversarial network (genlab.models.gan), unconditional, class-conditional, or
    reading its class from the first dimensions of z."""

    name = "gan"
    label = "GAN"
    description = "generative adversarial network (GAN)"
    ganspace = True
    loss_curves = ("loss_g", "loss_d")

    @classmethod
    def usage(cls, model_config):
        return [f"z = torch.randn(16, {model_config.get('latent_dim', 'ckpt.model.latent_dim')})",
                "images = ckpt.model.decode(z)  # (16, C, H, W) in [0, 1]"]

    def no_likelihood(self) -> str:
        return "none: a GAN defines no density"

    @property
    def conditional(self) -> bool:
        return bool(self.config.needs_labels)

    @property
    def latent_classes(self) -> int:
        c = self.config
        return int(c.num_classes) if getattr(c, "classes_from_latent", False) else 0

    @property
    def invertible(self) -> bool:
        return not self.conditional

    @property
    def sliders(self) -> bool:
        return not self.conditional

    def no_sliders(self, name: str) -> str:
        return f"{name} is class-conditional; the sliders work with unconditional models."

    @property
    def editable(self) -> bool:
        return not self.conditional

    def no_edits(self, name: str) -> str:
        return f"{name} is class-conditional; attribute edits work with unconditional models."

    @property
    def can_inpaint(self) -> bool:
        return not self.conditional

    def web_decoder(self) -> torch.nn.Module:
        return self.model

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        return decode(self.model, z, labels=labels)

    def sample(self, count: int, seed: int, scale: float = 1.0, steps: int | None = None) -> torch.Tensor:
        labels = torch.arange(count) % self.config.num_classes if self.conditional else None
        return self.decode(self.sample_latents(count, seed, scale), labels)

    def invert(self, images, steps, progress=None) -> Inverted:
        result = invert(self.model, images, steps=steps, restarts=INVERSION_RESTARTS, seed=0, progress=progress)
        return Inverted(result.latents, result.reconstructions, [float(e) for e in result.errors], result.seconds)

    def how(self, steps: int, seconds: float | None) -> str:
        took = "found earlier" if seconds is None else f"{seconds:.1f} s"
        return (f"The GAN has no encoder: each image was inverted by optimizing z "
                f"({steps} steps × {INVERSION_RESTARTS} restarts, {took}).")

    def unsupported(self, name, what):
        from genlab.kinds.base import ServiceError

        if self.conditional:
            return ServiceError(f"{name} is class-conditional; {what[0].lower() + what[1:]} works with unconditional GANs.")
        return super().unsupported(name, what)

    def inpaint(self, image, hidden, fills, steps, seed, progress, classifier):
        from genlab.inpainting import inpaint_gan

        return inpaint_gan(self.model, image, hidden, fills=fills, steps=steps, seed=seed, progress=progress,
                           original=image, classifier=classifier)

    def fill_description(self) -> str:
        return "GAN: inverting on the visible pixels"

    def attribute_bank(self, data, classifier, num_samples, options=None):
        return build_bank(self.checkpoint, "gan", None, classifier=classifier, num_samples=num_samples,
                          **(options or {}))


register(GANKind)
