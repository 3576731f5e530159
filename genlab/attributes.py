"""Attributes measured from pixels, and banks of latents from which attribute directions are found.

`measure` turns images into a few interpretable numbers per image (ink, stroke thickness, slant,
width, height, brightness). An `AttributeBank` holds, for one model, many latents with the images
they stand for: their classes (true labels for a VAE's encoded test images, a classifier's
answer for a GAN's samples) and their pixel attributes. From it come the directions
"more like class k", "class a -> class b" and "bolder", "lean right", ..., optionally made
conditional (class directions projected out, so "bolder" keeps the digit).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from genlab.latent import (
    DIRECTION_METHODS, _generator_of, _module_device, attribute_direction, class_direction, decode, encode, invert,
    principal_directions, project_out, sample_latents,
)

BANK_INVERSIONS = 64  # held-out pictures a GAN without a classifier is inverted on, for its class directions
INK_THRESHOLD = 0.5  # a pixel belongs to the shape's mask when its intensity is above this
TRACE_THRESHOLD = 0.1  # a pixel carries some ink when its intensity is above this

# name -> (label for the negative end, label for the positive end)
PIXEL_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "ink": ("less ink", "more ink"),
    "thickness": ("thinner", "bolder"),
    "slant": ("lean left", "lean right"),
    "width": ("narrower", "wider"),
    "height": ("shorter", "taller"),
    "brightness": ("dimmer", "brighter"),
}
# Measured on pictures from a user's folder (`measure_photo`): colour photographs or drawings, not strokes.
PHOTO_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "brightness": ("dimmer", "brighter"),
    "contrast": ("flatter", "more contrast"),
    "saturation": ("greyer", "more colourful"),
    "hue": ("cooler (cyan, blue)", "warmer (red, orange)"),
    "object_size": ("smaller bright object", "bigger bright object"),
}
MEASURED_ATTRIBUTES: dict[str, tuple[str, str]] = {**PIXEL_ATTRIBUTES, **PHOTO_ATTRIBUTES}  # the ends of each


def attribute_title(name: str) -> str:
    """A measured attribute's name as a person reads it: "object_size" -> "Object size"."""
    return name.replace("_", " ").capitalize()


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    """(B, 1|3, H, W) -> (B, H, W); RGB becomes luma (ITU-R BT.601 weights)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (B, 1 or 3, H, W), got shape {tuple(images.shape)}.")
    x = images.float()
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        return (x * w).sum(1)
    return x[:, 0]


@torch.no_grad()
def measure(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Pixel attributes of images (B, 1|3, H, W) in [0, 1], light shapes on a dark background.

    Returns a dict of (B,) float tensors; lengths are in pixels, rows grow downwards:
    - "ink": total intensity, sum of all pixels. Larger = more ink.
    - "thickness": stroke thickness, area / (perimeter / 2) of the mask of pixels above 0.5, where
      the perimeter counts the mask's edges between 4-neighbours (image border included). A stroke of
      length L and width w has area ~ L w and half-perimeter ~ L + w, so this is ~ w for long strokes.
      Larger = bolder. 0 for an empty mask.
    - "slant": shear from second-order central moments, -mu11 / mu02 (intensity-weighted); the
      column shift per row going up. Positive = leaning right ("/"), negative = leaning left ("\\").
    - "width", "height": twice the intensity-weighted standard deviation of the column (row)
      position; the horizontal (vertical) spread of the ink. Larger = wider (taller).
    - "area": number of mask pixels (above 0.5).
    - "brightness": mean intensity of the pixels with some ink (above 0.1), in [0, 1]; 0 if none.
    """
    x = _grayscale(images).clamp(0, 1)  # (B, H, W)
    b, h, w = x.shape
    rows = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    cols = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)

    ink = x.sum((1, 2))
    mass = ink.clamp_min(1e-8)
    cy = (x * rows).sum((1, 2)) / mass
    cx = (x * cols).sum((1, 2)) / mass
    dy = rows - cy.view(b, 1, 1)
    dx = cols - cx.view(b, 1, 1)
    mu02 = (x * dy * dy).sum((1, 2)) / mass  # row variance
    mu20 = (x * dx * dx).sum((1, 2)) / mass  # column variance
    mu11 = (x * dx * dy).sum((1, 2)) / mass
    slant = torch.where(mu02 > 1e-8, -mu11 / mu02.clamp_min(1e-8), torch.zeros_like(mu11))

    mask = (x > INK_THRESHOLD).float()
    area = mask.sum((1, 2))
    padded = nn.functional.pad(mask, (1, 1, 1, 1))
    perimeter = ((padded[:, 1:, :] - padded[:, :-1, :]).abs().sum((1, 2))
                 + (padded[:, :, 1:] - padded[:, :, :-1]).abs().sum((1, 2)))
    thickness = torch.where(perimeter > 0, area / (0.5 * perimeter).clamp_min(1e-8), torch.zeros_like(area))

    traced = x > TRACE_THRESHOLD
    traced_count = traced.sum((1, 2))
    brightness = torch.where(traced_count > 0, (x * traced).sum((1, 2)) / traced_count.clamp_min(1),
                             torch.zeros_like(ink))
    empty = ink <= 1e-8
    zero = torch.zeros_like(ink)
    return {
        "ink": ink,
        "thickness": thickness,
        "slant": torch.where(empty, zero, slant),
        "width": torch.where(empty, zero, 2 * mu20.clamp_min(0).sqrt()),
        "height": torch.where(empty, zero, 2 * mu02.clamp_min(0).sqrt()),
        "area": area,
        "brightness": brightness,
    }


@torch.no_grad()
def measure_photo(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Attributes of pictures (B, 1|3, H, W) in [0, 1] that mean something for any photograph.

    Returns a dict of (B,) float tensors:
    - "brightness": mean luma (ITU-R BT.601) of the whole picture, in [0, 1].
    - "contrast": standard deviation of the luma.
    - "saturation" (colour only): mean HSV saturation, (max - min) / max of each pixel's R, G, B.
    - "hue" (colour only): warmth, the saturation-weighted mean of cos(hue) (red 1, cyan -1), so
      grey pixels count for nothing; in [-1, 1].
    - "object_size": the share of the picture taken by its bright object, the pixels whose luma is
      above the midpoint of the picture's 5th and 95th percentiles (0 for a flat picture).
    """
    luma = _grayscale(images).clamp(0, 1).flatten(1)  # (B, H*W)
    out = {"brightness": luma.mean(1), "contrast": luma.std(1, unbiased=False)}
    low, high = torch.quantile(luma, 0.05, dim=1), torch.quantile(luma, 0.95, dim=1)
    bright = (luma > ((low + high) / 2)[:, None]).float().mean(1)
    out["object_size"] = torch.where(high - low > 0.05, bright, torch.zeros_like(bright))
    if images.shape[1] == 3:
        rgb = images.float().clamp(0, 1).flatten(2)  # (B, 3, H*W)
        top, bottom = rgb.max(1).values, rgb.min(1).values
        saturation = torch.where(top > 1e-6, (top - bottom) / top.clamp_min(1e-6), torch.zeros_like(top))
        r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        hue = torch.atan2(3 ** 0.5 * (g - b), 2 * r - g - b)  # the hue angle, red at 0
        weight = saturation.sum(1).clamp_min(1e-6)
        out["saturation"] = saturation.mean(1)
        out["hue"] = (saturation * torch.cos(hue)).sum(1) / weight
    return {k: out[k] for k in PHOTO_ATTRIBUTES if k in out}


# --------------------------------------------------------------------------- attribute banks


@dataclass
class AttributeBank:
    """Latents of one model with what is known about the images they stand for.

    latents (N, D); labels (N,) int64 class per latent (-1: not known, e.g. a GAN's sample beside
    its inverted held-out pictures) or None (a GAN without a classifier or pictures of its own);
    probabilities (N, K) classifier softmax or None; scores: measured attribute name -> (N,).
    """

    latents: torch.Tensor
    labels: torch.Tensor | None
    probabilities: torch.Tensor | None
    scores: dict[str, torch.Tensor]
    class_names: list[str] = field(default_factory=list)
    kind: str = ""  # "vae" | "gan"
    seconds: float = 0.0  # time it took to build
    _cache: dict[tuple[Any, ...], torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def latent_dim(self) -> int:
        return self.latents.shape[1]

    @property
    def num_classes(self) -> int:
        if self.class_names:
            return len(self.class_names)
        if self.probabilities is not None:
            return self.probabilities.shape[1]
        return int(self.labels.max()) + 1 if self.labels is not None and len(self.labels) else 0

    def names(self) -> list[str]:
        """Every direction name this bank can give: "class:<k>" for each class seen (when there are two
        or more), then measured attributes."""
        out = []
        present = self.known_classes()
        if len(present) >= 2:
            out += [f"class:{k}" for k in present]
        return out + [n for n in MEASURED_ATTRIBUTES if n in self.scores]

    def known_classes(self) -> list[int]:
        """The classes the bank has latents of (labels of -1, not known, left out)."""
        if self.labels is None:
            return []
        return [k for k in range(self.num_classes) if k in set(self.labels.unique().tolist())]

    def class_name(self, k: int) -> str:
        return self.class_names[k] if 0 <= k < len(self.class_names) else str(k)

    def ends(self, name: str) -> tuple[str, str]:
        """Human labels for the two ends of a direction, e.g. ("thinner", "bolder")."""
        if name in self.scores and name in MEASURED_ATTRIBUTES:
            return MEASURED_ATTRIBUTES[name]
        source, target = self._parse_class(name)
        if source is None:
            return (f"less like {self.class_name(target)}", f"more like {self.class_name(target)}")
        return (f"more like {self.class_name(source)}", f"more like {self.class_name(target)}")

    def _parse_class(self, name: str) -> tuple[int | None, int]:
        """"class:<k>" -> (None, k); "class:<a>-><b>" -> (a, b). ValueError otherwise."""
        if name.startswith("class:") and self.labels is None:
            self._need_labels("A class direction")
        if not name.startswith("class:"):
            known = ", ".join(self.names()) or "none"
            raise ValueError(f"Unknown direction {name!r}; this bank has: {known}.")
        body = name[len("class:"):]
        try:
            if "->" in body:
                a, b = body.split("->", 1)
                source, target = int(a), int(b)
            else:
                source, target = None, int(body)
        except ValueError:
            raise ValueError(f"Class directions are written 'class:<k>' or 'class:<a>-><b>', got {name!r}.") from None
        for k in (target,) if source is None else (source, target):
            if not 0 <= k < max(self.num_classes, 1):
                raise ValueError(f"There is no class {k} (classes are 0 to {self.num_classes - 1}).")
        return source, target

    def _need_labels(self, what: str) -> torch.Tensor:
        if self.labels is None:
            raise ValueError(f"{what} needs class labels; for a GAN, give build_bank a classifier.")
        return self.labels

    def class_subspace(self, max_directions: int | None = None, explained: float = 0.95) -> torch.Tensor:
        """(m, D) orthonormal principal directions of the class means: the subspace that tells classes apart.

        Keeps the fewest components that explain `explained` of the between-class variance, at most
        min(K - 1, D - 1, max_directions), so some latent space is always left for conditional edits.
        """
        labels = self._need_labels("A conditional direction")
        key = ("class-subspace", max_directions, explained)
        if key not in self._cache:
            classes = [c for c in labels.unique() if c >= 0]
            if not classes:
                self._cache[key] = torch.zeros((0, self.latent_dim))
                return self._cache[key]
            means = torch.stack([self.latents[labels == c].mean(0) for c in classes])
            limit = min(len(classes) - 1, self.latent_dim - 1, max_directions or self.latent_dim)
            if limit < 1:
                self._cache[key] = torch.zeros((0, self.latent_dim))
            else:
                comps, var = principal_directions(means, limit)
                share = torch.cumsum(var, 0) / var.sum().clamp_min(1e-12)
                m = int((share < explained).sum()) + 1
                self._cache[key] = comps[:min(m, limit)]
        return self._cache[key]

    def direction(self, name: str, method: str = "mean-difference", conditional: bool = False,
                  quantile: float = 0.2) -> torch.Tensor:
        """The unit direction (D,) called `name`: "class:<k>", "class:<a>-><b>" or a pixel attribute.

        conditional=True (pixel attributes only) finds the attribute direction within classes, on
        class-centred latents and scores, then projects out `class_subspace()` so that moving along
        it changes the attribute but not the class. Directions are cached.
        """
        if method not in DIRECTION_METHODS:
            raise ValueError(f"method must be one of {DIRECTION_METHODS}, got {method!r}.")
        key = (name, method, bool(conditional), float(quantile))
        if key in self._cache:
            return self._cache[key]
        if name in self.scores:
            scores = self.scores[name]
            latents = self.latents
            if conditional:
                labels = self._need_labels("A conditional direction")
                latents, scores = latents.clone(), scores.clone().double()
                for c in labels.unique():  # compare images within each class, not across classes
                    sel = labels == c
                    latents[sel] -= latents[sel].mean(0)
                    scores[sel] -= scores[sel].mean()
            d = attribute_direction(latents, scores, method=method, quantile=quantile)
            if conditional:
                d = project_out(d, self.class_subspace())
        else:
            source, target = self._parse_class(name)
            if conditional:
                raise ValueError("Only pixel attributes can be made conditional on the class.")
            labels = self._need_labels("A class direction")
            known = labels >= 0  # a latent whose class is not known is no example of "the others"
            d = class_direction(self.latents[known], labels[known], target, source, method=method)
        self._cache[key] = d
        return d


def _unwrap(model: Any) -> nn.Module:
    """A genlab Checkpoint or a bare model -> the model."""
    return model.model if hasattr(model, "model") and isinstance(getattr(model, "model"), nn.Module) else model


@torch.no_grad()
def _classify(classifier: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """images (N, C, H, W) -> softmax probabilities (N, K), on CPU, classifier in eval mode."""
    dev = _module_device(classifier)
    was_training = classifier.training
    classifier.eval()
    try:
        probs = [torch.softmax(classifier(images[i:i + batch_size].to(dev)), dim=1).cpu()
                 for i in range(0, images.shape[0], batch_size)]
    finally:
        classifier.train(was_training)
    return torch.cat(probs)


def build_bank(ckpt_model: Any, kind: str, data: Any | None = None, classifier: Any | None = None,
               num_samples: int = 2000, seed: int = 0, device: str | torch.device = "cpu", photo: bool = False,
               labelled: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> AttributeBank:
    """Build the AttributeBank of a VAE or a GAN (a genlab Checkpoint or the model itself).

    - "vae": encodes `num_samples` images drawn (seeded) from `data` (an ImageData, e.g. the test
      split) to their posterior means; labels are the true labels; pixel scores are measured on
      those real images.
    - "gan": samples `num_samples` latents (seed) and generates images; labels are the
      classifier's argmax on them (no classifier: no labels, only pixel attributes). A
      class-conditional GAN generates balanced classes and uses those as labels.
    `classifier` (Checkpoint or Classifier) also gives class probabilities. photo=True measures
    `measure_photo`'s attributes (pictures from a user's folder) instead of `measure`'s (strokes).
    `labelled` = (latents (M, D), labels (M,), pictures (M, C, H, W)) of real pictures a GAN was
    inverted on: added to a GAN's bank with their true labels, its samples' labels then -1 (not
    known) when no classifier names them, so class directions come from real pictures. Models are only read;
    tensors in the bank are on CPU. Takes about a second for 2000 latents of a 28-pixel model.
    """
    import time

    start = time.perf_counter()
    model = _unwrap(ckpt_model)
    clf = _unwrap(classifier) if classifier is not None else None
    if num_samples < 2:
        raise ValueError(f"num_samples must be at least 2, got {num_samples}.")
    class_names = list(getattr(data, "class_names", []) or [])
    if not class_names and hasattr(ckpt_model, "class_names"):
        class_names = list(ckpt_model.class_names)
    g = torch.Generator().manual_seed(int(seed))

    if kind == "vae":
        if data is None or len(data) == 0:
            raise ValueError("A VAE's bank is built from real images: pass the dataset (e.g. its test split).")
        n = min(int(num_samples), len(data))
        idx = torch.randperm(len(data), generator=g)[:n].sort().values
        images = data.images[idx].float()
        labels = data.labels[idx].long()
        latents = encode(model, images)
    elif kind == "gan":
        latents = sample_latents(int(num_samples), model.latent_dim, seed)
        num_classes = getattr(model.config, "num_classes", 0)
        labels = None
        if num_classes and getattr(model.config, "classes_from_latent", False):
            labels = _generator_of(model).latent_classes(latents)  # the class it draws for each z
            images = decode(model, latents)
        elif num_classes:
            labels = torch.arange(int(num_samples)) % num_classes
            images = decode(model, latents, labels=labels)
        else:
            images = decode(model, latents)
    else:
        raise ValueError(f"kind must be 'vae' or 'gan', got {kind!r}.")

    probabilities = None
    if clf is not None:
        probabilities = _classify(clf, images)
        if labels is None:
            labels = probabilities.argmax(1)
        if not class_names:
            class_names = list(getattr(classifier, "class_names", []) or [])
    if labelled is not None and kind == "gan" and probabilities is None:
        more_latents, more_labels, more_images = labelled
        labels = torch.cat([labels if labels is not None else torch.full((len(latents),), -1, dtype=torch.int64),
                            more_labels.long().cpu()])
        latents = torch.cat([latents.float().cpu(), more_latents.float().cpu()])
        images = torch.cat([images.cpu(), more_images.float().cpu()])
    scores = measure_photo(images) if photo else measure(images)
    return AttributeBank(latents.float().cpu(), labels, probabilities, {k: v.cpu() for k, v in scores.items()},
                         class_names, kind, time.perf_counter() - start)


def inverted_examples(gan: Any, data: Any, count: int = BANK_INVERSIONS, steps: int = 100, restarts: int = 2,
                      seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`build_bank`'s `labelled` for a GAN: up to `count` of `data`'s pictures (an ImageData; the
    classes taken in turn) inverted (`genlab.latent.invert`) -> (latents (M, D), labels (M,), pictures)."""
    from genlab.heldout import balanced_indices

    idx = torch.tensor(balanced_indices(data.labels, count), dtype=torch.int64)
    images = data.images[idx].float()
    found = invert(_unwrap(gan), images, steps=steps, restarts=restarts, seed=seed)
    return found.latents.float().cpu(), data.labels[idx].long(), images
