"""The model service: one object per checkpoint that the app's tabs talk to.

In the spirit of a diffusers pipeline, a `ModelService` wraps one loaded checkpoint and is the only
way the UI reaches a model: it samples, decodes, turns images into latents (an encoder, or an
inversion with one cache), explains a VAE's encoding, classifies, exports the decoder for the
browser, and gives the per-model artefacts (GANSpace directions, the attribute bank, the test
images' codes). It holds the one copy of each rule and default the tabs share (inversion steps and
restarts, what counts as an unused VAE dimension, how many samples a bank or a PCA takes).

What differs between families of models lives in the checkpoint's kind (`genlab.kinds`: one module
per family); the service asks it and keeps the plumbing every kind shares (caches, the artefact
file, the classifier). Tabs ask the service's capabilities (`has_latents`, `sliders`, `editable`,
`can_inpaint`, `sample_steps`, ...), never the kind's name.

Artefacts are computed by `python train/precompute.py` and stored beside the weights
(`artefacts.safetensors`, with the weights' SHA-256 in its metadata), so that a cold start (a
Space) loads them instead of recomputing; when the file is missing or belongs to other weights,
each artefact is computed on first use (seconds) and kept in memory.

Services are built once per loaded checkpoint by `genlab.store.ModelStore` and only read
afterwards: every cache here is keyed by the model alone and bounded, so users share them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open

from genlab.attributes import AttributeBank
from genlab.checkpoints import ARTEFACTS_NAME, WEIGHTS_NAME, Checkpoint, atomic_save_tensors, code_version
from genlab.data import DataError, ImageData, load_dataset
from genlab.heldout import bank_options, own_test_images
from genlab.kinds import LatentResult, ModelKind, ServiceError, VAEExplanation, kind_for
from genlab.kinds.gan import INVERSION_RESTARTS
from genlab.latent import gan_space_directions, kl_order

# -- the shared rules and defaults ----------------------------------------------------------------

INVERSION_STEPS = 200  # GAN inversion: Adam steps, from INVERSION_RESTARTS random starts per image
MAX_INVERSION_STEPS = 1000
ACTIVE_KL = 0.01  # nats: a VAE latent dimension with less average KL carries (almost) no information
GANSPACE_K = 8  # GANSpace directions offered next to a GAN's raw dimensions
GANSPACE_SAMPLES = 4000
BANK_SAMPLES = 2000  # latents of an attribute bank
TEST_CODES = 2000  # test images encoded for a VAE's latent map
MAX_CACHED_INVERSIONS = 256  # inverted images kept (each is one latent and one small image)

ARTEFACTS_FORMAT = "genlab-artefacts/1"

ProgressFn = Callable[[int, int], None]
log = logging.getLogger(__name__)


__all__ = ["ModelService", "ServiceError", "LatentResult", "VAEExplanation", "INVERSION_STEPS", "INVERSION_RESTARTS",
           "MAX_INVERSION_STEPS", "test_images", "gallery_indices"]


# -- test images ----------------------------------------------------------------------------------

_test_sets: dict[tuple[str, int, int], ImageData] = {}
_test_sets_lock = threading.Lock()


def test_images(dataset: str, image_size: int = 28, channels: int = 1) -> ImageData:
    """The test split of `dataset` at a model's size, loaded once per process and only read.

    Raises genlab.data.DataError (with what to do) when the split is not on this machine.
    """
    key = (dataset, image_size, channels)
    with _test_sets_lock:
        if key not in _test_sets:
            _test_sets[key] = load_dataset(dataset, "test", image_size=image_size, channels=channels)
        return _test_sets[key]


def gallery_indices(labels: torch.Tensor, count: int = 16) -> list[int]:
    """`count` test-set indices that cycle through the classes: the first of each class, then the second..."""
    by_class = [torch.nonzero(labels == k).flatten().tolist() for k in sorted(set(labels.tolist()))]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(count, len(labels)):
        for members in by_class:
            if rank < len(members) and len(picked) < count:
                picked.append(members[rank])
        rank += 1
    return picked


# -- the service ----------------------------------------------------------------------------------


class ModelService:
    """Everything the app does with one checkpoint. Build with `ModelService(checkpoint, classifier)`.

    `classifier` is the service of the dataset's classifier (used for attribute banks and verdicts),
    or None. Thread-safe: the model is only read, caches are locked.
    """

    def __init__(self, checkpoint: Checkpoint, classifier: "ModelService | None" = None) -> None:
        self._ckpt = checkpoint
        self._kind = kind_for(checkpoint)
        self.classifier = classifier
        self._lock = threading.RLock()
        self._inversions: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor, float]] = OrderedDict()
        self._artefacts: dict[str, torch.Tensor] | None = None  # from artefacts.safetensors, loaded on first use
        self._computed: dict[str, Any] = {}  # artefacts computed here (no file, or a stale one)
        self._web_export: dict | None = None

    # -- what it is -------------------------------------------------------------------------------
    @property
    def checkpoint(self) -> Checkpoint:
        """The loaded checkpoint this service serves (for the store and scripts; tabs use the methods)."""
        return self._ckpt

    @property
    def name(self) -> str:
        return self._ckpt.name

    @property
    def kind(self) -> str:
        """The config's "kind" string (for display and files; ask the capabilities below instead)."""
        return self._ckpt.kind

    @property
    def model_kind(self) -> ModelKind:
        """The kind's object (genlab.kinds): what this family of models can do."""
        return self._kind

    @property
    def latent_word(self) -> str:
        """What its latent is called in a sentence: "latent", or "noise" for a pixel diffusion model."""
        return self._kind.latent_word

    @property
    def label(self) -> str:
        """How the page names the model's family: "VAE", "GAN", "diffusion model", ..."""
        return self._kind.label

    @property
    def dataset(self) -> str:
        return self._ckpt.dataset

    @property
    def path(self) -> Path:
        return self._ckpt.path

    @property
    def info(self) -> dict[str, Any]:
        """The checkpoint's config.json."""
        return self._ckpt.info

    @property
    def config(self) -> Any:
        """The model's typed config (VAEConfig, GANConfig, DiffusionConfig, ...)."""
        return self._ckpt.model.config

    @property
    def latent_dim(self) -> int:
        """D of the latents the tabs hold (a pixel diffusion model's: its noise, C*H*W; 0: none)."""
        return self._kind.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the model's images."""
        return (self.config.channels, self.config.image_size, self.config.image_size)

    @property
    def conditional(self) -> bool:
        """Samples need a class (a class-conditional GAN): no sliders, no inversion."""
        return self._kind.conditional

    @property
    def latent_classes(self) -> int:
        """k for a GAN that reads its class from z (the largest of z[:k] picks it), else 0."""
        return self._kind.latent_classes

    # -- capabilities (the tabs ask these, never the kind's name) -----------------------------------
    @property
    def generative(self) -> bool:
        """A model of images the picker offers (not a classifier)."""
        return self._kind.generative

    @property
    def has_latents(self) -> bool:
        """Latents can be drawn and decoded."""
        return self._kind.has_latents

    @property
    def invertible(self) -> bool:
        """Images can be turned into latents (`to_latents`)."""
        return self._kind.invertible

    @property
    def has_encoder(self) -> bool:
        """Images reach the latent in one pass (else by inversion, which takes `steps`)."""
        return self._kind.encoder

    @property
    def sliders(self) -> bool:
        """The Latent sliders tab offers one slider per dimension (decoded in the browser)."""
        return self._kind.sliders

    def no_sliders(self) -> str:
        """One sentence: why there are no sliders, and what the model offers instead."""
        return self._kind.no_sliders(self.name)

    @property
    def editable(self) -> bool:
        """Attribute directions can be found in the latent (the Edit attributes tab)."""
        return self._kind.editable

    def no_edits(self) -> str:
        return self._kind.no_edits(self.name)

    @property
    def can_inpaint(self) -> bool:
        return self._kind.can_inpaint

    @property
    def sample_steps(self) -> int | None:
        """The default steps of a sample (an ODE's); None when a sample is one network pass."""
        return self._kind.sample_steps

    def network_passes(self, steps: int | None = None) -> int:
        """Network evaluations one sample costs with `steps` (1 for a VAE's or GAN's decoder)."""
        return self._kind.network_passes(steps)

    def likelihood(self, images: torch.Tensor, seed: int = 0) -> float | None:
        """A bound on -log p(x) in nats per image (a VAE's -ELBO), or None (`no_likelihood` says why)."""
        return self._kind.likelihood(images, seed)

    def no_likelihood(self) -> str:
        return self._kind.no_likelihood()

    @property
    def loss_curves(self) -> tuple[str, ...]:
        """The history.json keys of its training losses."""
        return self._kind.loss_curves

    def fill_description(self) -> str:
        """What the Inpainting tab's progress says while this model fills."""
        return self._kind.fill_description()

    @property
    def beta(self) -> float:
        return float(getattr(self.config, "beta", 1.0))

    @property
    def metrics(self) -> dict[str, Any]:
        return self._ckpt.metrics

    @property
    def class_names(self) -> list[str]:
        """From the checkpoint, else its dataset's classifier, else none."""
        if self._ckpt.class_names:
            return list(self._ckpt.class_names)
        if self.classifier is not None:
            return self.classifier.class_names
        return []

    @property
    def key(self) -> str:
        """Changes when the model is reloaded (so browsers fetch new weights)."""
        return f"{self.name}#{id(self._ckpt.model):x}"

    @property
    def device(self) -> torch.device:
        return self._ckpt.device

    def describe(self) -> str:
        """A label for the model picker: dataset · kind · latent · name."""
        return self._kind.describe(self.name, self.dataset)

    def test_images(self) -> ImageData:
        """The model's own held-out pictures when its checkpoint carries them (trained on a folder:
        genlab.heldout), else the test split of its dataset at its size (DataError when not here)."""
        own = own_test_images(self.path, self.image_shape)
        if own is not None:
            return own
        c, size, _ = self.image_shape
        return test_images(self.dataset, size, c)

    def _test_data(self) -> ImageData:
        """test_images() for the service's own work: a ServiceError without server paths when missing."""
        try:
            return self.test_images()
        except DataError as e:
            log.warning("%s: %s", self.name, e)
            raise ServiceError(f"The test images of {self.dataset} are not on this server "
                               f"(see data/README.md in the Genlab repository).") from None

    # -- the rules --------------------------------------------------------------------------------
    def kl_per_dim(self) -> list[float] | None:
        """A VAE's average KL per latent dimension on its test set (from its training), if recorded;
        None for a model without one."""
        return self._kind.kl_per_dim(self.metrics)

    @staticmethod
    def is_active(kl: float) -> bool:
        """The one rule for a VAE dimension that carries information: average KL of at least ACTIVE_KL."""
        return kl >= ACTIVE_KL

    def dimension_order(self) -> list[int]:
        """Latent dimensions in the order the sliders show them: a VAE's most informative first."""
        kl = self.kl_per_dim()
        return kl_order(kl) if kl else list(range(self.latent_dim))

    # -- latents and images -----------------------------------------------------------------------
    def _need(self, capable: bool, what: str) -> None:
        if not capable:
            raise self._kind.unsupported(self.name, what)

    def sample_latents(self, count: int, seed: int, scale: float = 1.0) -> torch.Tensor:
        """(count, D) latents drawn with `seed` (N(0, scale^2 I), or a learned prior's draws), the
        same for a seed on any device."""
        self._need(self.has_latents, "Sampling")
        return self._kind.sample_latents(count, seed, scale)

    def from_noise(self, noise: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """Draws of N(0, I) (B, D) -> the latents they stand for (a learned prior maps them; others keep them)."""
        self._need(self.has_latents, "Sampling")
        return self._kind.from_noise(noise, steps)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        """z (B, D) -> images (B, C, H, W) in [0, 1] on CPU. The one decoding path: batched, and
        clamped so that any finite latent gives an image. A conditional GAN needs `labels` (B,);
        a diffusion model takes `steps` (default: its config's)."""
        self._need(self.has_latents, "Decoding")
        return self._kind.decode(z, labels, steps)

    def sample(self, count: int, seed: int, scale: float = 1.0, steps: int | None = None) -> torch.Tensor:
        """`count` images from latents drawn with `seed` (a conditional GAN cycles through its classes);
        `steps` for a model that samples by an ODE (`sample_steps`), ignored by one-pass decoders."""
        self._need(self.has_latents, "Sampling")
        return self._kind.sample(count, seed, scale, steps)

    def reverse_process(self, seed: int, steps: int, count: int = 1) -> Any:
        """A pixel diffusion model's sampler step by step for `count` samples of `seed`
        (a genlab.models.diffusion.Trajectory; its `images` are the samples)."""
        self._need(hasattr(self._kind, "reverse_process"), "Showing the reverse process")
        return self._kind.reverse_process(seed, steps, count)

    def interpolate_latents(self, z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str) -> torch.Tensor:
        """The latents (steps, D) of a walk from z0 to z1 (D,), as the model walks (a latent prior
        walks between the noises of the two codes)."""
        self._need(self.has_latents, "Interpolating")
        return self._kind.interpolate(z0, z1, steps, mode)

    def to_latents(self, images: torch.Tensor, steps: int = INVERSION_STEPS,
                   progress: ProgressFn | None = None) -> LatentResult:
        """images (B, C, H, W) -> their latents: encoded (a VAE's posterior mean), or inverted (a
        GAN by optimization, a diffusion model by running its ODE backwards).

        Inversions are deterministic, so they depend only on the model, the image and `steps`: they
        are cached (at most MAX_CACHED_INVERSIONS images, least recently used dropped first).
        """
        if self.has_encoder:
            z = self._kind.encode(images)
            recon = self.decode(z)
            errors = (recon - images.to(recon)).pow(2).flatten(1).mean(1).tolist()
            return LatentResult(z, recon, errors, self._kind.how(steps, None), None)
        if not self.invertible:
            if self.has_latents:
                raise self._kind.unsupported(self.name, "Finding the latent of an image")
            raise ServiceError(f"{self.name} is a {self.label}; it has no latents.")
        z, recon, errors, seconds = self._invert_cached(images, steps, progress)
        return LatentResult(z, recon, errors, self._kind.how(steps, seconds), seconds)

    def _invert_cached(self, images: torch.Tensor, steps: int, progress: ProgressFn | None):
        keys = [(hashlib.sha1(im.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest(), int(steps))
                for im in images]
        with self._lock:
            cached = {}
            for k in keys:
                if k in self._inversions:
                    self._inversions.move_to_end(k)
                    cached[k] = self._inversions[k]
        missing = [i for i, k in enumerate(keys) if k not in cached]
        seconds = None
        if missing:
            try:
                result = self._kind.invert(images[missing], steps, progress)
            except ValueError as e:
                raise ServiceError(f"Could not invert {self.name}: {e}") from None
            seconds = result.seconds
            with self._lock:
                for j, i in enumerate(missing):
                    entry = (result.latents[j].clone(), result.reconstructions[j].clone(), float(result.errors[j]))
                    cached[keys[i]] = self._inversions[keys[i]] = entry
                while len(self._inversions) > MAX_CACHED_INVERSIONS:
                    self._inversions.popitem(last=False)
        entries = [cached[k] for k in keys]
        return (torch.stack([e[0] for e in entries]), torch.stack([e[1] for e in entries]),
                [e[2] for e in entries], seconds)

    def cached_inversions(self) -> int:
        """How many inverted images are cached (for tests and the memory benchmark)."""
        with self._lock:
            return len(self._inversions)

    # -- VAE insides --------------------------------------------------------------------------------
    def _vae_kind(self, what: str) -> Any:
        explain = getattr(self._kind, "explain", None)
        if explain is None:
            raise ServiceError(f"{what} needs a VAE; {self.name} is a {self.label}.")
        return self._kind

    def explain(self, image: torch.Tensor, eps: torch.Tensor) -> VAEExplanation:
        """One image (C, H, W) through the VAE with the draw eps (D,): mu, sigma, z, decoding, ELBO terms."""
        return self._vae_kind("Explaining an encoding").explain(image, eps)

    def reconstruction_terms(self, images: torch.Tensor) -> tuple[torch.Tensor, float, torch.Tensor]:
        """images (B, C, H, W) -> (reconstructions from the mean code (B, C, H, W), reconstruction
        nats per image, average KL per dimension (D,))."""
        return self._vae_kind("Measuring reconstructions").reconstruction_terms(images)

    # -- classifier ---------------------------------------------------------------------------------
    @torch.no_grad()
    def classify(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """A classifier's softmax (B, K) for images (B, C, H, W)."""
        if self.generative:
            raise ServiceError(f"{self.name} is a {self.label}, not a classifier.")
        model = self._ckpt.model
        was_training = model.training
        model.eval()
        try:
            return torch.cat([torch.softmax(model(images[i:i + batch_size].to(self.device)), dim=1).cpu()
                              for i in range(0, images.shape[0], batch_size)]) if len(images) else torch.zeros(0)
        finally:
            model.train(was_training)

    def verdicts(self, images: torch.Tensor) -> list[tuple[str, float]] | None:
        """(class name, confidence) of the dataset's classifier for each image; None without one."""
        if self.classifier is None:
            return None
        probs = self.classifier.classify(images)
        names = self.class_names or [str(k) for k in range(probs.shape[1])]
        conf, cls = probs.max(1)
        return [(names[c] if c < len(names) else str(c), float(p)) for c, p in zip(cls.tolist(), conf.tolist())]

    def class_distribution(self, num_samples: int = 1000, seed: int = 0) -> dict[str, Any] | None:
        """What the classifier says `num_samples` samples are: {histogram, kl_to_uniform, classes_covered}."""
        from genlab import metrics

        if self.classifier is None:
            return None
        return metrics.class_distribution(self._ckpt.model, self.classifier.checkpoint.model, num_samples, seed=seed)

    # -- inpainting ---------------------------------------------------------------------------------
    def inpaint(self, image: torch.Tensor, hidden: torch.Tensor, fills: int = 4, steps: int | None = None, seed: int = 0,
                progress: ProgressFn | None = None) -> Any:
        """`fills` guesses for the hidden pixels (H, W bool) of `image` (C, H, W), each from its own
        start, visible pixels kept; scored against the image and by the dataset's classifier.
        Returns a genlab.inpainting.Inpainting (its docstring has the maths)."""
        from genlab.inpainting import DEFAULT_STEPS

        steps = DEFAULT_STEPS if steps is None else steps
        if not self.can_inpaint:
            raise ServiceError(f"Inpainting needs a VAE, an unconditional GAN or a diffusion model; "
                               f"{self.name} is not one.")
        classifier = self.classifier.checkpoint.model if self.classifier is not None else None
        try:
            return self._kind.inpaint(image, hidden, fills, steps, seed, progress, classifier)
        except ValueError as e:
            raise ServiceError(str(e)) from None

    # -- the browser decoder ------------------------------------------------------------------------
    def web_export(self) -> dict:
        """The decoder as genlab.webdecoder exports it (BatchNorm folded), with this model's name and
        key; computed once. Raises genlab.webdecoder.WebDecoderError for a model it cannot export."""
        from genlab.webdecoder import WebDecoderError, export_decoder

        with self._lock:
            if self._web_export is None:
                module = self._kind.web_decoder()
                if module is None:
                    raise WebDecoderError(f"a {self.label} has no decoder to run in the browser.")
                spec = export_decoder(module)
                spec["model"], spec["key"] = self.name, self.key
                self._web_export = spec
            return self._web_export

    # -- artefacts ----------------------------------------------------------------------------------
    def weights_digest(self) -> str:
        """SHA-256 of model.safetensors: artefacts computed from other weights are not used."""
        with self._lock:
            if "digest" not in self._computed:
                h = hashlib.sha256()
                with open(self.path / WEIGHTS_NAME, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                self._computed["digest"] = h.hexdigest()
            return self._computed["digest"]

    def stored_artefacts(self) -> dict[str, torch.Tensor]:
        """The tensors of artefacts.safetensors when it belongs to these weights, else {}."""
        with self._lock:
            if self._artefacts is None:
                self._artefacts = {}
                path = self.path / ARTEFACTS_NAME
                if path.is_file():
                    try:
                        with safe_open(str(path), "pt") as f:
                            meta = f.metadata() or {}
                            if (meta.get("format") == ARTEFACTS_FORMAT
                                    and meta.get("weights_sha256") == self.weights_digest()):
                                self._artefacts = {k: f.get_tensor(k) for k in f.keys()}
                    except Exception:  # noqa: BLE001 - a damaged file only costs recomputing
                        self._artefacts = {}
            return self._artefacts

    def _artefact(self, name: str, compute: Callable[[], Any]) -> Any:
        with self._lock:  # one computation per model even when several users ask at once
            if name not in self._computed:
                self._computed[name] = compute()
            return self._computed[name]

    def ganspace(self) -> tuple[torch.Tensor, torch.Tensor]:
        """GANSpace directions (k, D) and their variances (k,) for an unconditional GAN; (0, D) otherwise."""
        def compute():
            stored = self.stored_artefacts()
            if "ganspace.directions" in stored:
                return stored["ganspace.directions"], stored["ganspace.variances"]
            if not self._kind.ganspace or self.conditional:
                return torch.zeros(0, self.latent_dim), torch.zeros(0)
            try:
                return gan_space_directions(self._ckpt.model, k=min(GANSPACE_K, self.latent_dim),
                                            num_samples=GANSPACE_SAMPLES, seed=0)
            except (ValueError, RuntimeError):  # e.g. a degenerate generator: the raw dimensions only
                return torch.zeros(0, self.latent_dim), torch.zeros(0)
        return self._artefact("ganspace", compute)

    def attribute_bank(self) -> AttributeBank:
        """Latents with class labels and pixel-attribute scores, for attribute directions (BANK_SAMPLES)."""
        def compute():
            stored = self.stored_artefacts()
            if "bank.latents" in stored:
                scores = {k[len("bank.score."):]: v for k, v in stored.items() if k.startswith("bank.score.")}
                return AttributeBank(stored["bank.latents"], stored.get("bank.labels"),
                                     stored.get("bank.probabilities"), scores, self.class_names, self.kind)
            if not self.editable:
                raise ServiceError(self.no_edits())
            classifier = self.classifier.checkpoint if self.classifier is not None else None
            try:
                bank = self._kind.attribute_bank(self._test_data, classifier, BANK_SAMPLES,
                                                 bank_options(self._ckpt, classifier is not None))  # a folder's own pictures
            except ValueError as e:
                raise ServiceError(f"Could not find attribute directions for {self.name}: {e}") from None
            if not bank.class_names:
                bank.class_names = self.class_names
            return bank
        return self._artefact("bank", compute)

    def test_codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """A VAE's posterior means of the first TEST_CODES test images (N, D) and their labels (N,)."""
        if not self._kind.test_codes:
            raise ServiceError(f"Test-image codes need a VAE; {self.name} is a {self.label}.")

        def compute():
            stored = self.stored_artefacts()
            if "test_codes.mu" in stored:
                return stored["test_codes.mu"], stored["test_codes.labels"]
            data = self._test_data()
            n = min(TEST_CODES, len(data))
            return self._kind.encode(data.images[:n]), data.labels[:n].clone()
        return self._artefact("test_codes", compute)

    def compute_artefacts(self) -> dict[str, torch.Tensor]:
        """Every artefact of this model, freshly computed, as the tensors `write_artefacts` stores."""
        with self._lock:
            self._artefacts = {}  # compute, don't read the file
            for name in ("ganspace", "bank", "test_codes"):
                self._computed.pop(name, None)
        tensors: dict[str, torch.Tensor] = {}
        if self._kind.ganspace and not self.conditional:
            directions, variances = self.ganspace()
            tensors.update({"ganspace.directions": directions, "ganspace.variances": variances})
        if self.editable:
            bank = self.attribute_bank()
            tensors["bank.latents"] = bank.latents
            if bank.labels is not None:
                tensors["bank.labels"] = bank.labels
            if bank.probabilities is not None:
                tensors["bank.probabilities"] = bank.probabilities
            tensors.update({f"bank.score.{k}": v for k, v in bank.scores.items()})
        if self._kind.test_codes:
            mu, labels = self.test_codes()
            tensors.update({"test_codes.mu": mu, "test_codes.labels": labels})
        return {k: v.detach().cpu().contiguous() for k, v in tensors.items()}

    def write_artefacts(self) -> Path:
        """Compute every artefact and store it beside the weights (atomically). Returns the path."""
        start = time.perf_counter()
        tensors = self.compute_artefacts()
        meta = {"format": ARTEFACTS_FORMAT, "weights_sha256": self.weights_digest(),
                "dataset": self.dataset, "classifier": self.classifier.name if self.classifier else "",
                "code_version": code_version(), "created": dt.datetime.now().isoformat(timespec="seconds"),
                "seconds": f"{time.perf_counter() - start:.2f}",
                "contents": json.dumps(sorted(tensors))}
        path = self.path / ARTEFACTS_NAME
        atomic_save_tensors(path, tensors, meta)
        with self._lock:
            self._artefacts = tensors
        return path
