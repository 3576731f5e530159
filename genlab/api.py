"""Genlab from Python: load a model by name, then sample, encode, decode, interpolate, edit, inpaint.

In the spirit of a diffusers pipeline, for notebooks and scripts::

    import genlab
    vae = genlab.load("mnist-vae-16")                 # a name in checkpoints/, a folder, or "hub:owner/repo"
    images = vae.sample(8, seed=0)                     # (8, 1, 28, 28) float in [0, 1]
    genlab.to_pil(images)                              # one PIL grid
    z = vae.encode(images)                             # (8, 16): the VAE's posterior means
    path = vae.interpolate(images[0], images[1], steps=8, mode="spherical")   # (8, 1, 28, 28)
    strip = vae.edit(images[0], "thickness", strengths=[-2, 0, 2])           # (3, 1, 28, 28)
    result = vae.inpaint(images[0], mask="bottom half", fills=4, seed=0)     # result.completed (4, 1, 28, 28)

This is not a second implementation: a `Model` is a thin, typed front of the
`genlab.service.ModelService` that the app's tabs talk to, taken from a `genlab.store.ModelStore`
(which loads a folder of checkpoints and gives every model of images its dataset's classifier), and each
method does what the matching tab does (`genlab.ui.sample`, `.interpolate`, `.attributes`,
`.inpaint`), with the same defaults (inversion steps and restarts, inpainting steps, attribute
banks), so a seed gives here the picture it gives in the app.

Conventions. Images are float tensors in [0, 1], (C, H, W) for one or (B, C, H, W) for a batch;
a PIL image, a numpy array, a file path or bytes is accepted too and prepared like the app's uploads
(`genlab.preprocess.prepare_image`: cropped, centred, light on dark). Latents are (B, D) float
tensors. Results come back on the CPU, whatever `device` the model runs on. Randomness: pass a
`seed` (int) or a `torch.Generator`; with neither, a seed is drawn from torch's global generator
(so `torch.manual_seed` makes a notebook repeatable). Errors are `ValueError`s (unknown names:
`KeyError`s) whose message is one sentence.
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from genlab.attributes import MEASURED_ATTRIBUTES
from genlab.checkpoints import CONFIG_NAME, DEFAULT_CHECKPOINT_DIR
from genlab.inpainting import check_mask, mask_from_paint, preset_mask
from genlab.latent import DIRECTION_METHODS, INTERPOLATION_MODES, attribute_direction, project_out
from genlab.preprocess import prepare_image, style_for
from genlab.service import INVERSION_STEPS, MAX_INVERSION_STEPS, LatentResult, ModelService
from genlab.store import ModelStore

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from genlab.data import ImageData
    from genlab.inpainting import Inpainting

__all__ = ["Model", "UnknownModelError", "load", "list_models", "to_pil"]

HUB_PREFIX = "hub:"
MIN_INVERSION_STEPS = 10  # the app's slider starts here
MAX_SAMPLE_STEPS = 1000  # a diffusion model's ODE steps


class UnknownModelError(KeyError):
    """No model by that name; the message says which names there are. (A KeyError that prints plainly.)"""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# -- stores: one per (folder, device), shared by every model loaded from it --------------------------

_stores: dict[tuple[str, str], ModelStore] = {}
_stores_lock = threading.Lock()


def _root(checkpoints: str | Path | None) -> Path:
    return Path(DEFAULT_CHECKPOINT_DIR if checkpoints is None else checkpoints).expanduser().resolve()


def _device(device: str | torch.device) -> str:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but this machine has no CUDA GPU; use device='cpu'.")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device='mps' was asked for but this machine has no Apple GPU; use device='cpu'.")
    return str(dev)


def _store(root: Path, device: str, hub: str | None = None, refresh: bool = False) -> ModelStore:
    """The cached ModelStore of `root` on `device` (loaded on first use; `refresh` re-scans the folder)."""
    with _stores_lock:
        key = (str(root), device)
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ModelStore.load(root, device, hub=[hub] if hub else [])
            return store
        if hub and hub not in store.hub:
            store.hub.append(hub)
            refresh = True
        if refresh:
            store.refresh()
        return store


def _problem_about(store: ModelStore, name: str) -> str | None:
    return next((p for p in store.problems if name in p), None)


def _unknown(name: str, store: ModelStore) -> UnknownModelError:
    names = sorted(store.services)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(names) if names else "none"
    return UnknownModelError(f"There is no model called {name!r} in {store.root} (there: {listed}).{hint}")


def load(name_or_path: str | Path, device: str | torch.device = "cpu",
         checkpoints: str | Path | None = None) -> "Model":
    """Load a model by name -> a `Model`.

    name_or_path:
      - a name in the `checkpoints` folder (default: the repository's `checkpoints/`), e.g.
        "mnist-vae-16", "mnist-gan-32", "fashion-mnist-vae-16" (`list_models()` lists them);
      - a checkpoint folder (with config.json): it is loaded with the folders beside it, as
        `app.py --checkpoints <its parent>` would, so a classifier there is wired in;
      - "hub:owner/repo": a checkpoint on the Hugging Face Hub (`genlab.hub.load_from_hub`), loaded
        next to the `checkpoints` folder, whose classifier of the same dataset it gets.
    device: where the model runs ("cpu", "cuda", ...); results come back on the CPU.

    Models of one folder and device share one store: loading "mnist-vae-16" twice gives the same
    service (and its caches: inversions, attribute banks).
    Raises UnknownModelError (a KeyError) for a name that is not there, ValueError for a checkpoint
    that cannot be loaded (the reason in one sentence).
    """
    device = _device(device)
    root = _root(checkpoints)
    text = str(name_or_path)
    if text.startswith(HUB_PREFIX):
        repo_id = text[len(HUB_PREFIX):].strip()
        if not repo_id:
            raise ValueError("Name a Hub repo after 'hub:', e.g. 'hub:owner/my-vae'.")
        store = _store(root, device, hub=repo_id)
        if repo_id not in store.services:
            store.refresh()  # a Hub repo that failed before is retried
        if repo_id not in store.services:
            raise ValueError(_problem_about(store, repo_id) or f"Could not load {repo_id} from the Hugging Face Hub.")
        return Model(store.services[repo_id], store)

    if checkpoints is not None and not root.is_dir():
        raise ValueError(f"The checkpoints folder {root} does not exist.")
    store = _store(root, device) if root.is_dir() else None
    if store is not None and text in store.services:
        return Model(store.services[text], store)
    path = Path(text).expanduser()
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        folder = path.resolve()
        store = _store(folder.parent, device)
        name = folder.name
        if name not in store.services:
            store.refresh()
        if name not in store.services:
            raise ValueError(_problem_about(store, name) or f"The checkpoint in {folder} could not be loaded.")
        return Model(store.services[name], store)
    if path.is_dir():
        raise ValueError(f"{path} holds no config.json: to load from a folder of checkpoints, pass its path as "
                         f"checkpoints= and a model's name (genlab.list_models(checkpoints=...) lists them).")
    if store is None:
        raise ValueError(f"The checkpoints folder {root} does not exist.")
    store.refresh()  # perhaps trained since the store was loaded
    if text in store.services:
        return Model(store.services[text], store)
    problem = _problem_about(store, text)
    if problem:
        raise ValueError(problem)
    raise _unknown(text, store)


def list_models(checkpoints: str | Path | None = None, kind: str | None = None, dataset: str | None = None,
                device: str | torch.device = "cpu") -> list[str]:
    """Names of the models `load` finds in `checkpoints` (default: the repository's checkpoints/),
    optionally of one kind ("vae", "gan", "classifier", "diffusion", ...) or dataset, sorted.

    Folders that cannot be loaded are left out (the app shows them as warnings).
    """
    root = _root(checkpoints)
    if not root.is_dir():
        raise ValueError(f"The checkpoints folder {root} does not exist.")
    store = _store(root, _device(device), refresh=True)
    return sorted(store.names(kind, dataset))


# -- pictures --------------------------------------------------------------------------------------


def to_pil(images: torch.Tensor, size: int | None = None, ncol: int | None = None) -> "Image.Image":
    """Tensor(s) in [0, 1] -> one PIL image, upscaled by whole factors (nearest neighbour, crisp).

    (C, H, W) -> that image, at its own size or about `size` pixels across;
    (B, C, H, W) -> the app's grid, as the Sample tab draws it: `ncol` columns (default up to 8),
    each image about `size` pixels (default 84), 2 white pixels apart."""
    from genlab.ui.images import grid
    from genlab.ui.images import to_pil as one

    if not isinstance(images, torch.Tensor):
        raise ValueError(f"to_pil takes a tensor (C, H, W) or (B, C, H, W), got {type(images).__name__}.")
    if images.ndim == 3 and images.shape[0] in (1, 3):
        return one(images, size or max(images.shape[1:]))
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[0] >= 1:
        return grid(images, ncol=ncol or min(8, images.shape[0]), cell=size or 84)
    raise ValueError(f"to_pil takes (C, H, W) or (B, C, H, W) with 1 or 3 channels, got {tuple(images.shape)}.")


# -- the model -------------------------------------------------------------------------------------


@dataclass
class _Seed:
    seed: int | None = None
    generator: torch.Generator | None = None


def _seed_of(seed: int | torch.Generator | None, generator: torch.Generator | None) -> _Seed:
    if isinstance(seed, torch.Generator):
        seed, generator = None, seed
    if seed is not None and generator is not None:
        raise ValueError("Pass a seed or a generator, not both.")
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}.")
        return _Seed(None, generator)
    if seed is None:
        return _Seed(int(torch.randint(0, 2**31 - 1, (1,))))  # torch's global generator: torch.manual_seed works
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ValueError(f"seed must be a whole number of at least 0, got {seed!r}.")
    return _Seed(int(seed))


def _int_seed(s: _Seed) -> int:
    """An int seed for the service's seeded searches: the seed, or one drawn from the generator."""
    if s.generator is None:
        return int(s.seed)  # type: ignore[arg-type]
    return int(torch.randint(0, 2**31 - 1, (1,), generator=s.generator, device=s.generator.device))


class Model:
    """One loaded checkpoint, for Python: a typed front of the app's `ModelService`.

    Get one with `genlab.load(name)`. VAEs and GANs sample, decode, encode (GAN: invert),
    interpolate, edit along attributes and inpaint; a pixel diffusion model samples (with `steps`),
    decodes its noise, inverts images to noise, interpolates and inpaints, but has no attribute
    directions; a latent diffusion prior does everything in its VAE's latent, sampling through its
    prior; a classifier classifies. The `service` says what a model can do (`has_latents`,
    `invertible`, `editable`, `can_inpaint`, `sample_steps`); a method it cannot serve raises a
    ValueError that says why. `service` is the
    underlying ModelService and `checkpoint` the loaded checkpoint, for anything not wrapped here.
    """

    def __init__(self, service: ModelService, store: ModelStore | None = None) -> None:
        self.service = service
        self._store = store

    # -- what it is -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.service.name

    @property
    def kind(self) -> str:
        """"vae", "gan", "classifier", "diffusion", "latent-diffusion": the kind its checkpoint declares."""
        return self.service.kind

    @property
    def dataset(self) -> str:
        return self.service.dataset

    @property
    def latent_dim(self) -> int:
        return self.service.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the model's images."""
        return self.service.image_shape

    @property
    def class_names(self) -> list[str]:
        return self.service.class_names

    @property
    def conditional(self) -> bool:
        """A class-conditional GAN: it samples (classes in turn) and decodes with labels, but is not inverted."""
        return self.service.conditional

    @property
    def device(self) -> torch.device:
        return self.service.device

    @property
    def checkpoint(self) -> Any:
        return self.service.checkpoint

    @property
    def config(self) -> Any:
        """The model's typed config (VAEConfig, GANConfig, ...)."""
        return self.service.config

    @property
    def info(self) -> dict[str, Any]:
        """The checkpoint's config.json (metrics, epochs, dataset, ...)."""
        return self.service.info

    def describe(self) -> str:
        """One line: dataset · kind · latent size · name (the app's model picker label)."""
        return self.service.describe()

    def __repr__(self) -> str:
        return f"<genlab.Model {self.describe()}>"

    # -- checks -------------------------------------------------------------------------------------
    def _need_latents(self, what: str) -> None:
        if not self.service.has_latents:
            raise ValueError(f"{what} needs a model of images (a VAE, a GAN or a diffusion model), and "
                             f"{self.name} is a {self.service.label}.")

    def _need_unconditional(self, what: str) -> None:
        self._need_latents(what)
        if self.conditional:
            raise ValueError(f"{self.name} is a class-conditional GAN: {what.lower()} works with a VAE, an "
                             f"unconditional GAN or a diffusion model (it has no single latent per image).")

    def _need_edits(self) -> None:
        self._need_unconditional("Editing")
        if not self.service.editable:
            raise ValueError(self.service.no_edits())

    def _sample_steps(self, steps: int | None) -> int | None:
        """A diffusion model's sampling steps (None: its default); refused for a one-pass decoder."""
        if steps is None:
            return None
        if self.service.sample_steps is None:
            raise ValueError(f"{self.name} is a {self.service.label}: a sample is one network pass, so it takes no steps.")
        if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= MAX_SAMPLE_STEPS:
            raise ValueError(f"steps must be a whole number from 1 to {MAX_SAMPLE_STEPS}, got {steps!r}.")
        return int(steps)

    def _steps(self, steps: int | None) -> int:
        if steps is None:
            return INVERSION_STEPS
        if isinstance(steps, bool) or int(steps) != steps or not MIN_INVERSION_STEPS <= steps <= MAX_INVERSION_STEPS:
            raise ValueError(f"Inversion steps must be a whole number from {MIN_INVERSION_STEPS} to "
                             f"{MAX_INVERSION_STEPS}, got {steps!r}.")
        return int(steps)

    def prepare(self, picture: Any) -> torch.Tensor:
        """A picture (PIL image, numpy array, file path or bytes) -> (C, H, W) in [0, 1], prepared like
        the training data exactly as the app prepares uploads and drawings (`prepare_image`)."""
        c, size, _ = self.image_shape
        return prepare_image(picture, image_size=size, channels=c, style=style_for(self.dataset))

    def images(self, images: Any) -> torch.Tensor:
        """Anything image-like -> a (B, C, H, W) float batch in [0, 1] the model takes; ValueError otherwise.

        Tensors (and numpy arrays) (C, H, W) or (B, C, H, W) of the model's shape are taken as they
        are (uint8 is divided by 255); a PIL image, another numpy array (a picture (H, W) or
        (H, W, 3|4), or a batch of them), a path or bytes is `prepare`d; a list mixes them.
        """
        try:
            c, h, w = self.image_shape
        except AttributeError:  # e.g. a latent diffusion prior: its config has no image size
            raise ValueError(f"{self.name} is a {self.kind} model, which takes no images here.") from None
        if isinstance(images, (list, tuple)):
            if not images:
                raise ValueError("Got an empty list of images.")
            return torch.cat([self.images(im) for im in images])
        if isinstance(images, np.ndarray) and images.ndim in (3, 4) and tuple(images.shape[-3:]) == (c, h, w):
            images = torch.from_numpy(np.ascontiguousarray(images))  # already model-shaped: taken as a tensor
        if not isinstance(images, torch.Tensor):
            if isinstance(images, np.ndarray) and images.ndim == 4:
                return torch.stack([self.prepare(a) for a in images])
            return self.prepare(images)[None]
        x = images.detach()
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise ValueError(f"{self.name} takes images of shape ({c}, {h}, {w}) or a batch (B, {c}, {h}, {w}); "
                             f"got {tuple(images.shape)} (pass a PIL image to have it prepared).")
        if x.shape[0] == 0:
            raise ValueError("Got an empty batch of images.")
        if x.dtype == torch.uint8:
            x = x.float() / 255
        x = x.float().cpu()
        if not torch.isfinite(x).all():
            raise ValueError("The images hold NaN or infinite values.")
        low, high = float(x.min()), float(x.max())
        if low < -1e-4 or high > 1 + 1e-4:
            raise ValueError(f"Images must be in [0, 1]; got values from {low:.3g} to {high:.3g}.")
        return x.clamp(0, 1).contiguous()

    def _latents(self, z: Any) -> torch.Tensor:
        x = torch.as_tensor(z).detach().float().cpu()
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.latent_dim:
            raise ValueError(f"{self.name} has a {self.latent_dim}-d latent: give (D,) or (B, D) with D = "
                             f"{self.latent_dim}; got {tuple(torch.as_tensor(z).shape)}.")
        if not torch.isfinite(x).all():
            raise ValueError("The latents hold NaN or infinite values.")
        return x

    # -- sampling and decoding ----------------------------------------------------------------------
    def sample(self, count: int = 8, seed: int | torch.Generator | None = None, *,
               generator: torch.Generator | None = None, temperature: float = 1.0,
               steps: int | None = None) -> torch.Tensor:
        """`count` samples -> (count, C, H, W) in [0, 1], on the CPU.

        Latents come from N(0, temperature^2 I) (the Sample tab's temperature for a VAE, truncation
        for a GAN; a diffusion model's starting noise is scaled the same way). `seed` gives the app's
        picture for that seed; a torch.Generator is drawn from (`torch.Generator().manual_seed(s)`
        gives what seed=s gives, and it moves on, so two calls differ). A class-conditional GAN
        cycles through its classes. `steps`: a diffusion model's ODE steps (default: its config's
        `sample_steps`; 2 * steps - 1 network passes); a VAE or GAN takes none.
        """
        self._need_latents("Sampling")
        count = self._count(count)
        steps = self._sample_steps(steps)
        if not 0.0 < float(temperature) <= 10.0:
            raise ValueError(f"temperature must be above 0 (and at most 10), got {temperature!r}.")
        s = _seed_of(seed, generator)
        if s.generator is None:
            return self.service.sample(count, s.seed, scale=float(temperature), steps=steps)
        g = s.generator
        noise = (torch.randn((count, self.latent_dim), generator=g, device=g.device) * float(temperature)).cpu()
        return self.decode(self.service.from_noise(noise, steps), labels=self._cycle_labels(count), steps=steps)

    def sample_latents(self, count: int = 8, seed: int | torch.Generator | None = None, *,
                       generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """The latents `sample` decodes -> (count, D): N(0, temperature^2 I), seeded like `sample`
        (a latent diffusion prior's: those draws through its ODE, codes of its VAE)."""
        self._need_latents("Sampling")
        count = self._count(count)
        s = _seed_of(seed, generator)
        if s.generator is None:
            return self.service.sample_latents(count, s.seed, scale=float(temperature))
        g = s.generator
        noise = (torch.randn((count, self.latent_dim), generator=g, device=g.device) * float(temperature)).cpu()
        return self.service.from_noise(noise)

    def sample_images(self, count: int = 8, seed: int | torch.Generator | None = None, *,
                      generator: torch.Generator | None = None, temperature: float = 1.0,
                      size: int | None = None, steps: int | None = None) -> list["Image.Image"]:
        """`sample` as a list of PIL images (each H x W, or upscaled to about `size` pixels)."""
        return [to_pil(x, size) for x in self.sample(count, seed, generator=generator, temperature=temperature,
                                                      steps=steps)]

    def decode(self, z: torch.Tensor, labels: torch.Tensor | Sequence[int] | None = None,
               steps: int | None = None) -> torch.Tensor:
        """Latents (B, D) or (D,) -> images (B, C, H, W) in [0, 1]. A class-conditional GAN needs
        `labels` (B,): the class of each image. A pixel diffusion model's latent is its starting
        noise, flattened (D = C*H*W), run through its ODE in `steps` (default: its config's)."""
        self._need_latents("Decoding")
        steps = self._sample_steps(steps)
        z = self._latents(z)
        if self.conditional:
            if labels is None:
                raise ValueError(f"{self.name} is a class-conditional GAN: pass labels=, one class per latent.")
            labels = torch.as_tensor(labels, dtype=torch.long).flatten()
            k = int(self.config.num_classes)
            if labels.shape[0] != z.shape[0] or bool(((labels < 0) | (labels >= k)).any()):
                raise ValueError(f"labels must hold one class from 0 to {k - 1} per latent ({z.shape[0]}).")
        elif labels is not None:
            raise ValueError(f"{self.name} is not class-conditional: it takes no labels.")
        return self.service.decode(z, labels, steps)

    def _cycle_labels(self, count: int) -> torch.Tensor | None:
        return torch.arange(count) % int(self.config.num_classes) if self.conditional else None

    @staticmethod
    def _count(count: int) -> int:
        if isinstance(count, bool) or int(count) != count or not 1 <= count <= 4096:
            raise ValueError(f"count must be a whole number from 1 to 4096, got {count!r}.")
        return int(count)

    # -- images to latents --------------------------------------------------------------------------
    def reconstruct(self, images: Any, steps: int | None = None) -> LatentResult:
        """Images -> a genlab.service.LatentResult: latents (B, D), reconstructions (B, C, H, W),
        errors (per-image MSE) and `how` (one sentence). The VAE encodes (posterior mean); the GAN
        is inverted (`steps` Adam steps from 4 random starts each, default 200, as in the app; cached);
        a diffusion model runs its ODE backwards to the noise (its own steps; `steps` do not apply)."""
        self._need_unconditional("Encoding")
        return self.service.to_latents(self.images(images), self._steps(steps))

    def encode(self, images: Any, steps: int | None = None) -> torch.Tensor:
        """Images (see `images`) -> latents (B, D): a VAE's encoder mean, a GAN's inversion (`steps`),
        a diffusion model's noise (its ODE backwards)."""
        return self.reconstruct(images, steps).latents

    invert = encode  # the GAN's word for it

    def _endpoints(self, items: Sequence[Any], steps: int | None) -> list[torch.Tensor]:
        """Images or latents (D,) -> latents (D,) each; the images encoded together in one batch, as
        the tabs do (genlab.ui.inputs.to_latents), so the numbers match the app's to the last bit."""
        latents: list[torch.Tensor | None] = []
        images: list[torch.Tensor] = []
        for x in items:
            if isinstance(x, torch.Tensor) and x.ndim == 1:
                latents.append(self._latents(x)[0])
                continue
            batch = self.images(x)
            if batch.shape[0] != 1:
                raise ValueError(f"Give one image (or one latent), not a batch of {batch.shape[0]}.")
            latents.append(None)
            images.append(batch[0])
        if images:
            found = iter(self.encode(torch.stack(images), steps))
            latents = [z if z is not None else next(found) for z in latents]
        return latents  # type: ignore[return-value]

    # -- interpolation ------------------------------------------------------------------------------
    def interpolate(self, start: Any, end: Any, steps: int = 8, mode: str = "spherical",
                    inversion_steps: int | None = None) -> torch.Tensor:
        """A walk from `start` to `end` -> (steps, C, H, W), both ends included, as the Interpolate tab.

        start, end: an image (encoded / inverted first) or a latent (D,). mode: "linear" or
        "spherical" (stays where Gaussian latents live). Use `interpolate_latents` for the latents.
        A diffusion model walks between the two images' noises; a latent diffusion prior between the
        noises of the two codes of its VAE.
        """
        return self.decode(self.interpolate_latents(start, end, steps, mode, inversion_steps))

    def interpolate_latents(self, start: Any, end: Any, steps: int = 8, mode: str = "spherical",
                            inversion_steps: int | None = None) -> torch.Tensor:
        """The latents of `interpolate` -> (steps, D)."""
        self._need_unconditional("Interpolating")
        if mode not in INTERPOLATION_MODES:
            raise ValueError(f"mode must be one of {', '.join(INTERPOLATION_MODES)}, got {mode!r}.")
        a, b = self._endpoints([start, end], inversion_steps)
        return self.service.interpolate_latents(a, b, steps, mode)

    # -- attributes -----------------------------------------------------------------------------------
    def attributes(self) -> list[str]:
        """Names `edit` takes: pixel attributes ("thickness", "slant", ...) then class directions
        ("class:7" = more like class 7; "class:<a>-><b>" works too, e.g. "class:7->9").

        The first call for a model builds its attribute bank, as the app does (stored beside shipped
        checkpoints; seconds otherwise)."""
        self._need_edits()
        bank = self.service.attribute_bank()
        classes = [n for n in bank.names() if n.startswith("class:")]
        return [n for n in bank.names() if not n.startswith("class:")] + classes

    def attribute_ends(self, attribute: str) -> tuple[str, str]:
        """What the two ends of a direction mean, e.g. ("thinner", "bolder") or ("more like 3", "more like 8")."""
        self._need_edits()
        try:
            return self.service.attribute_bank().ends(str(attribute))
        except ValueError as e:
            raise ValueError(f"Cannot edit {attribute!r} with {self.name}: {e}") from None

    def direction(self, attribute: str | torch.Tensor, method: str = "mean-difference",
                  conditional: bool = False) -> torch.Tensor:
        """The unit direction (D,) of an attribute, found as the Edit tab finds it.

        attribute: a name from `attributes()`, or a direction (D,) of your own (e.g. from
        `direction_from_examples`). method: "mean-difference" or "linear-boundary" (InterFaceGAN).
        conditional=True keeps the class: the class directions are projected out (pixel attributes
        and your own directions; it means nothing for a class direction and is ignored there, as in the app).
        """
        self._need_edits()
        if method not in DIRECTION_METHODS:
            raise ValueError(f"method must be one of {', '.join(DIRECTION_METHODS)}, got {method!r}.")
        bank = self.service.attribute_bank()
        label = "your direction" if isinstance(attribute, torch.Tensor) else repr(attribute)
        try:
            if isinstance(attribute, torch.Tensor):
                d = self._latents(attribute)
                if d.shape[0] != 1:
                    raise ValueError("a direction is one latent-sized vector (D,)")
                norm = d[0].norm()
                if norm <= 1e-12:
                    raise ValueError("the direction is zero")
                d = d[0] / norm
                return project_out(d, bank.class_subspace()) if conditional else d
            keep_class = bool(conditional) and attribute in MEASURED_ATTRIBUTES
            return bank.direction(str(attribute), method=method, conditional=keep_class)
        except (ValueError, KeyError) as e:
            message = e.args[0] if e.args else str(e)
            raise ValueError(f"Cannot edit {label} with {self.name}: {message}") from None

    def direction_from_examples(self, with_attribute: Any, without: Any, method: str = "mean-difference",
                                steps: int | None = None) -> torch.Tensor:
        """Your own attribute: a unit direction (D,) from images that have it towards images that don't
        (at least 2 of each; encoded / inverted first), as the Edit tab's "define your own attribute"."""
        self._need_edits()
        if method not in DIRECTION_METHODS:
            raise ValueError(f"method must be one of {', '.join(DIRECTION_METHODS)}, got {method!r}.")
        pos, neg = self.images(with_attribute), self.images(without)
        if len(pos) < 2 or len(neg) < 2:
            raise ValueError(f"Give at least 2 examples with the attribute and 2 without it "
                             f"(got {len(pos)} and {len(neg)}).")
        latents = self.encode(torch.cat([pos, neg]), steps)
        positive = torch.cat([torch.ones(len(pos), dtype=torch.bool), torch.zeros(len(neg), dtype=torch.bool)])
        try:
            return attribute_direction(latents, positive, method=method)
        except ValueError as e:
            raise ValueError(f"Cannot find that attribute's direction for {self.name}: {e}") from None

    def edit(self, image: Any, attribute: str | torch.Tensor,
             strengths: float | Sequence[float] | torch.Tensor = (-2.0, -1.0, 0.0, 1.0, 2.0), *,
             method: str = "mean-difference", conditional: bool = False,
             steps: int | None = None) -> torch.Tensor:
        """One image moved along an attribute -> (S, C, H, W), one image per strength.

        image: an image (encoded / inverted first, `steps` for a GAN) or a latent (D,). The latent
        z becomes z + strength * direction (a unit vector, so a strength is a distance in latent
        space; the app's slider goes from -6 to 6). attribute, method, conditional: as `direction`.
        """
        d = self.direction(attribute, method, conditional)
        amounts = torch.as_tensor(strengths, dtype=torch.float32).flatten()
        if amounts.numel() == 0 or not torch.isfinite(amounts).all():
            raise ValueError("strengths must be one or more finite numbers.")
        (z,) = self._endpoints([image], steps)
        return self.decode(z[None] + amounts[:, None] * d[None].to(z))

    # -- inpainting ----------------------------------------------------------------------------------
    def mask(self, mask: Any) -> torch.Tensor:
        """A mask -> (H, W) bool, True where hidden: a preset name ("bottom half", "top half", "left half",
        "right half", "centre box", "random pixels"), an (H, W) tensor or array (True / > 0.5 = hidden),
        or a PIL picture of the hole (light = hidden; any size of the image's shape)."""
        _, h, w = self.image_shape
        try:
            if isinstance(mask, str):
                hidden = preset_mask(mask, h, w)
            elif isinstance(mask, (torch.Tensor, np.ndarray)):
                hidden = torch.as_tensor(np.asarray(mask) if isinstance(mask, np.ndarray) else mask)
                if hidden.ndim == 3 and hidden.shape[0] == 1:
                    hidden = hidden[0]
                if hidden.ndim == 2 and tuple(hidden.shape) != (h, w):
                    hidden = mask_from_paint(hidden.float().numpy(), h, w)
            else:
                from PIL import Image as PILImage

                if not isinstance(mask, PILImage.Image):
                    raise ValueError(f"a mask is a preset name, an (H, W) tensor or a PIL image, "
                                     f"not {type(mask).__name__}")
                coverage = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
                hidden = mask_from_paint(coverage, h, w)
            return check_mask(hidden, h, w)
        except ValueError as e:
            raise ValueError(f"Cannot use that mask: {e}") from None

    def inpaint(self, image: Any, mask: Any = "bottom half", fills: int = 4, steps: int | None = None,
                seed: int | torch.Generator | None = None, *, generator: torch.Generator | None = None) -> "Inpainting":
        """Hide part of an image and let the model fill it -> a genlab.inpainting.Inpainting, as the
        Inpainting tab: `completed` (fills, C, H, W) with the visible pixels kept, `decoded`, `latents`,
        `hidden_error` and `sharpness` (fills,), the classifier's `predicted` / `confidence`, `seconds`.

        The VAE fits its posterior to the visible pixels; the GAN is inverted on them; each fill
        starts from its own random start (`seed` or `generator`). mask: see `mask`. steps: at most
        this many (default 100, the app's), fewer once the fit stops improving.
        """
        self._need_unconditional("Inpainting")
        if not self.service.can_inpaint:
            raise ValueError(f"Inpainting is not offered for {self.name}, a {self.service.label}.")
        batch = self.images(image)
        if batch.shape[0] != 1:
            raise ValueError(f"Inpaint one image at a time, not a batch of {batch.shape[0]}.")
        hidden = self.mask(mask)
        seed_value = _int_seed(_seed_of(seed, generator))
        return self.service.inpaint(batch[0], hidden, fills=fills, steps=steps, seed=seed_value)

    # -- the classifier ------------------------------------------------------------------------------
    def verdicts(self, images: Any) -> list[tuple[str, float]] | None:
        """What the dataset's classifier says each image is: [(class name, confidence), ...];
        None when no classifier of the model's dataset is loaded. A classifier model judges itself."""
        batch = self.images(images)
        if not self.service.generative:
            probs = self.service.classify(batch)
            names = self.class_names or [str(k) for k in range(probs.shape[1])]
            conf, cls = probs.max(1)
            return [(names[c] if c < len(names) else str(c), float(p)) for c, p in zip(cls.tolist(), conf.tolist())]
        return self.service.verdicts(batch)

    def classify(self, images: Any) -> torch.Tensor:
        """A classifier's class probabilities (B, K); for a VAE or GAN, its dataset's classifier's."""
        batch = self.images(images)
        if not self.service.generative:
            return self.service.classify(batch)
        if self.service.classifier is None:
            raise ValueError(f"There is no classifier of {self.dataset} beside {self.name} to classify with.")
        return self.service.classifier.classify(batch)

    def nearest(self, images: Any, k: int = 5) -> "genlab.nearest.Neighbours":
        """The k training images nearest to each image, in the feature space of the dataset's classifier
        (`genlab.nearest`): `.indices` and `.distances` (B, k), nearest first; `.images` (B, k, C, H, W)
        when the training images are here (else `.missing_images` says why); `.reference.median` and
        `.reference.p5`: how far real test images are from their nearest training image; `.verdict(i)`:
        one sentence for image i. A ValueError (one sentence) without a classifier or its index."""
        from genlab.nearest import index_for, training_rows  # noqa: PLC0415 - loads the index only when asked

        index = index_for(self.service)
        return index.nearest(self.images(images), k=k, within=training_rows(self.info, index))

    # -- data ----------------------------------------------------------------------------------------
    def test_images(self) -> "ImageData":
        """The test split of the model's dataset at its size: `.images` (N, C, H, W), `.labels` (N,),
        `.class_names` (a genlab.data.DataError says what to do when it is not on this machine)."""
        return self.service.test_images()
