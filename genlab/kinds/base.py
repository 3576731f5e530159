"""`ModelKind`: what one family of models can do, asked by capability rather than by name.

A kind wraps one loaded checkpoint (`genlab.checkpoints.Checkpoint`) and answers the questions the
tabs, the Python API and the metrics ask: does it have a latent the user can hold (`has_latents`),
how images get there (`encoder`: one pass; else `invertible`: a search or an ODE), does it offer
sliders, attribute directions, inpainting, how many network passes a sample costs. It does the
kind-specific work behind `genlab.service.ModelService` (sample, decode, encode / invert,
interpolate, inpaint, the artefacts it has). The service keeps what every kind shares: the caches,
the artefact file, the classifier.

Conventions. Latents are (B, D) float tensors (a pixel diffusion model's latent is its starting
noise, flattened); images are (B, C, H, W) in [0, 1] on the CPU. A seed gives the same picture on
any device (noise is drawn from a seeded CPU torch.Generator). A request the kind cannot serve
raises `ServiceError` with one sentence for the user (`unsupported`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch

from genlab.latent import interpolate, sample_latents

if TYPE_CHECKING:  # pragma: no cover
    from genlab.attributes import AttributeBank
    from genlab.checkpoints import Checkpoint
    from genlab.data import ImageData
    from genlab.inpainting import Inpainting

ProgressFn = Callable[[int, int], None]


class ServiceError(ValueError):
    """A request the model cannot serve; the message is one sentence for the user."""


@dataclass
class LatentResult:
    """Latents of some images and what the model makes of them."""

    latents: torch.Tensor  # (B, D)
    reconstructions: torch.Tensor  # (B, C, H, W) in [0, 1]
    errors: list[float]  # per-image mean squared error of the reconstruction
    how: str  # one sentence: how the latents were found
    seconds: float | None  # time of the inversion; None when encoded or every image was found earlier


@dataclass
class VAEExplanation:
    """One image through a VAE: the encoder's Gaussian, the draw, the decoding and the ELBO's terms."""

    mu: torch.Tensor  # (D,)
    sigma: torch.Tensor  # (D,)
    eps: torch.Tensor  # (D,)
    z: torch.Tensor  # (D,) = mu + sigma * eps
    decoded: torch.Tensor  # (C, H, W) in [0, 1]
    reconstruction: float  # -log p(x | z), nats
    kl_per_dim: torch.Tensor  # (D,) nats

    @property
    def kl(self) -> float:
        return float(self.kl_per_dim.sum())


@dataclass
class Inverted:
    """What `ModelKind.invert` found for a batch: kept per image by the service's cache."""

    latents: torch.Tensor  # (B, D)
    reconstructions: torch.Tensor  # (B, C, H, W)
    errors: list[float]
    seconds: float


class ModelKind:
    """One family of models (VAE, GAN, diffusion, ...) for one checkpoint. Subclasses set the class
    attributes and override what they can do; the defaults say "not offered" in one sentence."""

    name: ClassVar[str] = ""  # the "kind" a checkpoint's config.json declares
    label: ClassVar[str] = ""  # how the page names the family: "VAE", "GAN", "diffusion model"
    generative: ClassVar[bool] = True  # offered in the model picker and the Python API's sampling
    encoder: ClassVar[bool] = False  # images -> latents in one network pass (else by `invert`, if any)
    latent_word: ClassVar[str] = "latent"  # what the latent is called in sentences ("noise" for diffusion)
    test_codes: ClassVar[bool] = False  # it encodes the test images once, for a latent map
    loss_curves: ClassVar[tuple[str, ...]] = ("loss",)  # history.json keys of its training losses (stability)
    description: ClassVar[str] = ""  # what a model card calls it: "variational autoencoder (VAE)"
    pipeline_tag: ClassVar[str] = "unconditional-image-generation"  # the Hub's task of a model card

    @classmethod
    def usage(cls, model_config: dict[str, Any]) -> list[str]:
        """Python lines for a model card, after `ckpt = load_from_hub(...)`: how to get images from it."""
        return []
    ganspace: ClassVar[bool] = False  # it has GANSpace directions beside its raw dimensions

    def __init__(self, checkpoint: "Checkpoint") -> None:
        self.checkpoint = checkpoint

    # -- what it is -----------------------------------------------------------------------------
    @property
    def model(self) -> torch.nn.Module:
        return self.checkpoint.model

    @property
    def config(self) -> Any:
        return self.checkpoint.model.config

    @property
    def latent_dim(self) -> int:
        """D of the latents the tabs hold (0: none)."""
        return int(getattr(self.config, "latent_dim", 0))

    @property
    def conditional(self) -> bool:
        """Samples need a class label (so there is no single latent per image to find)."""
        return False

    @property
    def latent_classes(self) -> int:
        """k when the class is read from the latent (the largest of z[:k]); else 0."""
        return 0

    def describe(self, name: str, dataset: str) -> str:
        """The model picker's label: dataset · kind · latent · name."""
        return f"{dataset} · {self.label} · {self.latent_dim}-d {self.latent_word} · {name}"

    # -- capabilities the tabs ask ----------------------------------------------------------------
    @property
    def has_latents(self) -> bool:
        """Latents can be drawn and decoded (Sample, Interpolate, Edit)."""
        return self.latent_dim > 0

    @property
    def invertible(self) -> bool:
        """Images can be turned into latents (by the encoder or by `invert`)."""
        return False

    @property
    def sliders(self) -> bool:
        """The Latent sliders tab can offer one slider per latent dimension, decoded in the browser."""
        return False

    def no_sliders(self, name: str) -> str:
        """One sentence for the Latent sliders tab when `sliders` is False: what it offers instead."""
        return f"{name} has no latent to move with sliders."

    @property
    def editable(self) -> bool:
        """Attribute directions can be found in its latent (the Edit attributes tab)."""
        return False

    def no_edits(self, name: str) -> str:
        return f"{name} has no latent to move along an attribute."

    @property
    def can_inpaint(self) -> bool:
        return False

    @property
    def sample_steps(self) -> int | None:
        """Default steps of a sample (its ODE's); None: a sample is one network pass."""
        return None

    def network_passes(self, steps: int | None = None) -> int:
        """Network evaluations a sample costs with `steps` (1 for a one-pass decoder)."""
        return 1

    def kl_per_dim(self, metrics: dict[str, Any]) -> list[float] | None:
        """Average KL per latent dimension, from a VAE's training record; None for other kinds."""
        return None

    def likelihood(self, images: torch.Tensor, seed: int = 0) -> float | None:
        """A bound on -log p(x), nats per image, for images (B, C, H, W); None when the kind has none here."""
        return None

    def no_likelihood(self) -> str:
        """Why `likelihood` is None, in a few words."""
        return "none"

    def web_decoder(self) -> torch.nn.Module | None:
        """The module the browser can run on a latent (genlab.webdecoder), or None."""
        return None

    # -- the work -----------------------------------------------------------------------------------
    def unsupported(self, name: str, what: str) -> ServiceError:
        return ServiceError(f"{what} is not offered for {name}, a {self.label}.")

    def from_noise(self, noise: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Draws of N(0, I) (B, D) -> latents (B, D): themselves, unless the kind has a learned prior."""
        return noise

    def sample_latents(self, count: int, seed: int, scale: float = 1.0) -> torch.Tensor:
        """(count, D) latents drawn with `seed`: N(0, scale^2 I) through `from_noise`."""
        return self.from_noise(sample_latents(count, self.latent_dim, seed, scale=scale))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        """z (B, D) -> images (B, C, H, W) in [0, 1] on the CPU."""
        raise NotImplementedError

    def sample(self, count: int, seed: int, scale: float = 1.0, steps: int | None = None) -> torch.Tensor:
        """`count` images from latents drawn with `seed`; `steps` for kinds that sample by an ODE."""
        return self.decode(self.sample_latents(count, seed, scale), steps=steps)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> latents (B, D) in one pass (kinds with `encoder`)."""
        raise NotImplementedError

    def invert(self, images: torch.Tensor, steps: int, progress: ProgressFn | None = None) -> Inverted:
        """images (B, C, H, W) -> latents by a deterministic search (kinds that are `invertible`
        without an encoder); the service caches the result per image and `steps`."""
        raise NotImplementedError

    def how(self, steps: int, seconds: float | None) -> str:
        """One sentence: how `to_latents` found the latents."""
        return ""

    def interpolate(self, z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str) -> torch.Tensor:
        """The latents (steps, D) of a walk from z0 to z1 (D,), both ends included."""
        return interpolate(z0, z1, steps, mode)

    def inpaint(self, image: torch.Tensor, hidden: torch.Tensor, fills: int, steps: int, seed: int,
                progress: ProgressFn | None, classifier: torch.nn.Module | None) -> "Inpainting":
        """`fills` guesses for the hidden pixels (H, W bool) of `image` (C, H, W)."""
        raise NotImplementedError

    def fill_description(self) -> str:
        """What the Inpainting tab's progress bar says while this kind fills."""
        return f"{self.label}: filling the hole"

    def attribute_bank(self, data: "Callable[[], ImageData]", classifier: Any, num_samples: int,
                       options: dict[str, Any] | None = None) -> "AttributeBank":
        """Latents with labels and pixel scores, for attribute directions (kinds that are `editable`).
        `data()` gives the test images when the kind needs them; `options` go to
        genlab.attributes.build_bank (a folder's own pictures: genlab.heldout.bank_options)."""
        raise NotImplementedError


# -- the registry: a checkpoint's "kind" -> its ModelKind class ------------------------------------------

KINDS: dict[str, type[ModelKind]] = {}


def register(cls: type[ModelKind]) -> type[ModelKind]:
    """Make `cls` the kind of checkpoints whose config.json says `"kind": cls.name`."""
    KINDS[cls.name] = cls
    return cls


def kind_for(checkpoint: "Checkpoint") -> ModelKind:
    """The ModelKind of a loaded checkpoint; a kind nobody registered gets the plain base (nothing offered)."""
    cls = KINDS.get(checkpoint.kind)
    if cls is None:
        unknown = type(f"Unknown{checkpoint.kind.title()}Kind", (ModelKind,),
                       {"name": checkpoint.kind, "label": checkpoint.kind, "generative": False})
        return unknown(checkpoint)
    return cls(checkpoint)
