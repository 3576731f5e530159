"""Inpainting: hide part of an image and let the VAE and the GAN fill it in, apart from any UI.

A mask is an (H, W) bool tensor, True where a pixel is *hidden*. Both models fill the hole the same
way in spirit: find a latent z whose picture agrees with the visible pixels, decode it, and paste
the visible pixels back, so a fill never changes what was shown.

- VAE: fit q(z) = N(mu, sigma^2) to the visible pixels by the ELBO (Bernoulli NLL of the visible
  pixels, the VAE's own likelihood, + KL to the N(0, I) prior), from a random start per fill, and
  decode one draw from it.
- GAN: inversion (`genlab.latent.invert`) on the visible pixels only (`pixel_weights`), one random
  start per fill.

A fill is a guess: each fill starts from its own random latent (a seeded CPU torch.Generator), and
the spread of the guesses is part of the answer. Images are (C, H, W) or (B, C, H, W) in [0, 1].
The numbers under a fill: the error on the hidden region against the original (when known), the
sharpness of the hidden region (variance of the Laplacian there), and a classifier's verdict.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genlab.latent import Plateau, _Adam, bank_starts, _as_model, _eval_mode, _module_device, decode, invert
from genlab.metrics import laplacian
from genlab.models.vae import kl_to_standard_normal

MASK_PRESETS = ("bottom half", "top half", "left half", "right half", "centre box", "random pixels")
MAX_FILLS = 16
MAX_STEPS = 5000
# Adam on (mu, log sigma^2). At 0.3, 100 steps give the fills that 200 steps at 0.1 gave (bench/inpainting.py,
# 200 test images, bottom half: error, sharpness and accuracy within one standard error on both datasets).
VAE_LR = 0.3
DEFAULT_STEPS = 100  # GAN inversion on the visible pixels: 50 steps reach what 200 did on MNIST
# A fill stops before its steps once its loss has stopped falling (genlab.latent.Plateau): by less than
# this share over 10 steps. None: every step runs. Per image with 4 fills, 200 steps asked: the same
# error, sharpness and accuracy within a standard error, in half the time or less.
TOLERANCE: float | None = 0.002
GAN_LR = 0.05  # invert's default
MASK_COVERAGE = 0.5  # a model pixel is hidden when at least this share of it is painted

ProgressFn = Callable[[int, int], Any]  # progress(step, steps), as genlab.latent.invert calls it


# --------------------------------------------------------------------------- masks


def bottom_half(height: int, width: int) -> torch.Tensor:
    """(H, W) bool, the lower half hidden (the middle row of an odd height stays visible)."""
    hidden = torch.zeros(height, width, dtype=torch.bool)
    hidden[(height + 1) // 2:] = True
    return hidden


def top_half(height: int, width: int) -> torch.Tensor:
    return bottom_half(height, width).flip(0)


def right_half(height: int, width: int) -> torch.Tensor:
    return bottom_half(width, height).T.contiguous()


def left_half(height: int, width: int) -> torch.Tensor:
    return right_half(height, width).flip(1)


def centre_box(height: int, width: int, fraction: float = 0.5) -> torch.Tensor:
    """(H, W) bool, a centred box of `fraction` of the height and of the width hidden."""
    hidden = torch.zeros(height, width, dtype=torch.bool)
    bh, bw = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - bh) // 2, (width - bw) // 2
    hidden[top:top + bh, left:left + bw] = True
    return hidden


def random_pixels(height: int, width: int, fraction: float = 0.5, seed: int = 0) -> torch.Tensor:
    """(H, W) bool, `fraction` of the pixels hidden, chosen by a seeded generator (exactly that many)."""
    count = round(height * width * fraction)
    order = torch.randperm(height * width, generator=torch.Generator().manual_seed(int(seed)))
    hidden = torch.zeros(height * width, dtype=torch.bool)
    hidden[order[:count]] = True
    return hidden.view(height, width)


def preset_mask(name: str, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """The (H, W) bool mask of preset `name` (one of MASK_PRESETS); `seed` picks the random pixels."""
    makers = {"bottom half": bottom_half, "top half": top_half, "left half": left_half,
              "right half": right_half, "centre box": centre_box}
    if name == "random pixels":
        return random_pixels(height, width, seed=seed)
    if name not in makers:
        raise ValueError(f"The mask preset must be one of {', '.join(MASK_PRESETS)}; got {name!r}.")
    return makers[name](height, width)


def mask_from_paint(coverage: Any, height: int, width: int, threshold: float = MASK_COVERAGE) -> torch.Tensor:
    """A painted picture's coverage (h, w) in [0, 1] (e.g. a brush layer's alpha / 255) -> (H, W) bool.

    The painting may be larger than the image (it is drawn over an enlarged copy) but must have the
    image's shape: it is averaged down to H x W, and a pixel is hidden when at least `threshold` of
    it is painted.
    """
    paint = torch.as_tensor(np.asarray(coverage, dtype=np.float32))
    if paint.ndim != 2 or paint.shape[0] < 1 or paint.shape[1] < 1:
        raise ValueError(f"The mask must be one 2-d picture; got shape {tuple(paint.shape)}.")
    h, w = paint.shape
    if h * width != w * height:
        raise ValueError(f"The mask is {w}×{h} pixels but the image is {width}×{height}: "
                         "draw the mask over the image, or send one of the image's shape.")
    if (h, w) != (height, width):
        paint = F.adaptive_avg_pool2d(paint[None, None], (height, width))[0, 0]
    return paint >= threshold


def check_mask(hidden: Any, height: int, width: int, allow_nothing_hidden: bool = False) -> torch.Tensor:
    """`hidden` as an (H, W) bool tensor on the CPU; raises ValueError with one clear sentence.

    Refused: a mask of another size, a mask that hides every pixel (there is nothing left to go
    on), and, unless `allow_nothing_hidden`, one that hides nothing (there is nothing to fill).
    """
    mask = torch.as_tensor(hidden).detach().cpu()
    if mask.ndim != 2 or tuple(mask.shape) != (height, width):
        size = "×".join(str(n) for n in reversed(mask.shape)) if mask.ndim else "a single number"
        raise ValueError(f"The mask is {size} pixels but the image is {width}×{height}: "
                         "it must have the image's size.")
    mask = mask.bool() if mask.dtype == torch.bool else mask > 0.5
    if bool(mask.all()):
        raise ValueError("Everything is hidden: leave part of the image visible, so the models have "
                         "something to go on.")
    if not allow_nothing_hidden and not bool(mask.any()):
        raise ValueError("Nothing is hidden: hide part of the image (paint over it or pick a preset) "
                         "for the models to fill.")
    return mask


# --------------------------------------------------------------------------- the numbers


def paste(decoded: torch.Tensor, images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """The model's pixels where hidden, the image's elsewhere: (B, C, H, W) each, hidden (H, W) bool."""
    return torch.where(hidden.to(images.device), decoded.to(images), images)


def hidden_error(completed: torch.Tensor, original: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the hidden pixels (and channels): (B, C, H, W) x2 -> (B,); NaN if none is hidden."""
    h = hidden.to(completed.device)
    if not bool(h.any()):
        return torch.full((completed.shape[0],), float("nan"), device=completed.device)
    return (completed - original.to(completed)).pow(2)[..., h].flatten(1).mean(1)


def masked_sharpness(images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """Variance of the Laplacian over the hidden region: (B, C, H, W) -> (B,).

    The same measure as `genlab.metrics.sharpness`, taken only where the 3x3 Laplacian is centred on
    a hidden pixel (edges the fill makes with the visible border count: a seam is part of the fill).
    NaN when fewer than two such pixels exist (nothing hidden away from the image's border).
    """
    lap = laplacian(images.float())  # (B, C, H-2, W-2), centred on the interior pixels
    inside = hidden.to(images.device)[1:-1, 1:-1]
    if int(inside.sum()) * images.shape[1] < 2:
        return torch.full((images.shape[0],), float("nan"), device=images.device)
    return lap[..., inside].flatten(1).var(dim=1)


@torch.no_grad()
def classify(classifier: Any, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) -> (predicted class (B,) long, its probability (B,)) by a genlab Classifier."""
    model = _as_model(classifier)
    with _eval_mode(model):
        probs = model(images.to(_module_device(model), torch.float32)).softmax(1)
    confidence, predicted = probs.max(1)
    return predicted.to(images.device), confidence.to(images.device)


# --------------------------------------------------------------------------- the fills


def _check_images(model: nn.Module, images: torch.Tensor) -> None:
    cfg = model.config
    if images.ndim != 4 or tuple(images.shape[1:]) != (cfg.channels, cfg.image_size, cfg.image_size):
        raise ValueError(f"This model makes {cfg.channels}×{cfg.image_size}×{cfg.image_size} images; "
                         f"got shape {tuple(images.shape[1:] if images.ndim == 4 else images.shape)}.")


def _check_steps(steps: int) -> int:
    if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number from 1 to {MAX_STEPS}, got {steps}.")
    return int(steps)


def fill_vae(vae: Any, images: torch.Tensor, hidden: torch.Tensor, steps: int = DEFAULT_STEPS, seed: int = 0,
             lr: float = VAE_LR, progress: ProgressFn | None = None,
             tolerance: float | None = TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """One VAE guess per image from the visible pixels: (latents (B, D), decodings (B, C, H, W)).

    images (B, C, H, W) in [0, 1]; hidden (H, W) bool. Per image, fits a Gaussian q(z) =
    N(mu, sigma^2) to the visible pixels by maximizing their ELBO with Adam (one reparameterized
    draw per step): Bernoulli NLL of the visible pixels (the VAE's own likelihood) + KL(q || N(0, I)).
    The guess decodes one draw from the fitted q, so repeated fills differ as much as the VAE is
    unsure. Row b starts from mu = the b-th draw of N(0, I), sigma = 1; all noise comes from a
    generator seeded with `seed`. Returns on the images' device; the VAE's weights are only read.
    At most `steps` steps: fewer once the loss stops falling by `tolerance` (`genlab.latent.Plateau`).
    """
    model = _as_model(vae)
    if not hasattr(model, "decode_logits"):
        raise ValueError("fill_vae needs a VAE (a model with an encoder and Bernoulli outputs).")
    _check_images(model, images)
    steps = _check_steps(steps)
    model_device = _module_device(model)
    target = images.to(model_device, torch.float32)
    visible = (~hidden.to(model_device)).to(torch.float32).expand_as(target)
    b, dim = images.shape[0], model.latent_dim
    g = torch.Generator().manual_seed(int(seed))
    start = torch.randn((b, dim), generator=g)
    params = torch.cat([start, torch.zeros(b, dim)], dim=1).to(model_device).requires_grad_(True)  # [mu | logvar]
    adam = _Adam(params, lr)
    report_every = max(1, steps // 50)

    def draw(p: torch.Tensor) -> torch.Tensor:
        mu, logvar = p[:, :dim], p[:, dim:].clamp(-30.0, 20.0)
        return mu + (0.5 * logvar).exp() * torch.randn((b, dim), generator=g).to(model_device)

    plateau = Plateau(tolerance)
    with _eval_mode(model):
        for step in range(steps):
            mu, logvar = params[:, :dim], params[:, dim:].clamp(-30.0, 20.0)
            nll = F.binary_cross_entropy_with_logits(model.decode_logits(draw(params)), target, reduction="none")
            # Summed over the batch: each image's parameters get the gradient of their own -ELBO.
            loss = (nll * visible).sum() + kl_to_standard_normal(mu, logvar).sum()
            (grad,) = torch.autograd.grad(loss, [params])
            adam.step(grad)
            done = plateau.reached(loss.detach())
            if progress is not None and ((step + 1) % report_every == 0 or step + 1 == steps or done):
                progress(steps if done else step + 1, steps)
            if done:
                break
    with torch.no_grad():
        latents = draw(params.detach())
    return latents.to(images.device), decode(model, latents, device=images.device)


def fill_gan(gan: Any, images: torch.Tensor, hidden: torch.Tensor, steps: int = DEFAULT_STEPS, seed: int = 0,
             lr: float = GAN_LR, progress: ProgressFn | None = None,
             tolerance: float | None = TOLERANCE) -> tuple[torch.Tensor, torch.Tensor]:
    """GAN inversion on the visible pixels: (latents (B, D), G(z) (B, C, H, W)), one start per image (`bank_starts`).

    images (B, C, H, W) in [0, 1]; hidden (H, W) bool. `genlab.latent.invert` with the visible
    pixels as its pixel weights (its prior term and best-step bookkeeping included).
    """
    model = _as_model(gan)
    _check_images(getattr(model, "generator", model), images)
    steps = _check_steps(steps)
    visible = (~hidden).to(torch.float32)[None, None]
    # Each row starts from one of the few bank pictures closest to its visible pixels, a different
    # one per fill of the same image (seeded): good starts reach the plateau in fewer steps.
    starts = bank_starts(model, images, visible, seed=seed)
    result = invert(model, images, steps=steps, restarts=1, lr=lr, seed=seed, device=images.device,
                    progress=progress, pixel_weights=visible, tolerance=tolerance, starts=starts)
    return result.latents, result.reconstructions


@dataclass
class Inpainting:
    """Fills of one image by one model, with the numbers shown under each."""

    completed: torch.Tensor  # (F, C, H, W): the fills, visible pixels pasted back exactly
    decoded: torch.Tensor  # (F, C, H, W): the model's whole picture for each fill, before pasting
    latents: torch.Tensor  # (F, D)
    hidden: torch.Tensor  # (H, W) bool, True where hidden
    visible_error: torch.Tensor  # (F,) MSE of `decoded` on the visible pixels: how well it explains them
    hidden_error: torch.Tensor | None  # (F,) MSE on the hidden pixels against the original, when known
    sharpness: torch.Tensor  # (F,) variance of the Laplacian over the hidden region of `completed`
    predicted: torch.Tensor | None  # (F,) the classifier's class for each completed image
    confidence: torch.Tensor | None  # (F,) its probability
    seconds: float  # wall time of the search


def _inpaint(fill: Callable[..., tuple[torch.Tensor, torch.Tensor]], model: Any, image: torch.Tensor,
             hidden: Any, fills: int, steps: int, seed: int, progress: ProgressFn | None,
             device: str | torch.device, original: torch.Tensor | None, classifier: Any) -> Inpainting:
    if image.ndim != 3:
        raise ValueError(f"image must be (C, H, W), got shape {tuple(image.shape)}.")
    if isinstance(fills, bool) or int(fills) != fills or not 1 <= fills <= MAX_FILLS:
        raise ValueError(f"fills must be a whole number from 1 to {MAX_FILLS}, got {fills}.")
    mask = check_mask(hidden, image.shape[1], image.shape[2], allow_nothing_hidden=True)
    if original is not None and tuple(original.shape) != tuple(image.shape):
        raise ValueError(f"The original is {tuple(original.shape)} but the image is {tuple(image.shape)}.")
    start = time.perf_counter()
    images = image.to(device, torch.float32).expand(int(fills), -1, -1, -1).contiguous()
    latents, decoded = fill(model, images, mask, steps=steps, seed=seed, progress=progress)
    seconds = time.perf_counter() - start
    mask = mask.to(images.device)
    completed = paste(decoded, images, mask)
    visible = ~mask
    visible_error = (decoded - images).pow(2)[..., visible].flatten(1).mean(1)
    error = None if original is None else hidden_error(completed, original.to(images).expand_as(images), mask)
    predicted = confidence = None
    if classifier is not None:
        predicted, confidence = classify(classifier, completed)
    return Inpainting(completed, decoded, latents, mask, visible_error, error, masked_sharpness(completed, mask),
                      predicted, confidence, seconds)


def inpaint_vae(model: Any, image: torch.Tensor, hidden: Any, fills: int = 4, steps: int = DEFAULT_STEPS, seed: int = 0,
                progress: ProgressFn | None = None, device: str | torch.device = "cpu",
                original: torch.Tensor | None = None, classifier: Any = None) -> Inpainting:
    """`fills` VAE fills of `image` (C, H, W) where `hidden` (H, W) is True, each from its own start.

    Results on `device`. `original` (C, H, W), when known, gives the hidden-region error; a
    `classifier` gives its verdict on each completed image. A mask that hides nothing gives the
    image back; a mask of the wrong size or one that hides everything raises ValueError.
    """
    return _inpaint(fill_vae, model, image, hidden, fills, steps, seed, progress, device, original, classifier)


def inpaint_gan(model: Any, image: torch.Tensor, hidden: Any, fills: int = 4, steps: int = DEFAULT_STEPS, seed: int = 0,
                progress: ProgressFn | None = None, device: str | torch.device = "cpu",
                original: torch.Tensor | None = None, classifier: Any = None) -> Inpainting:
    """`fills` GAN fills of `image` (C, H, W) by inversion on the visible pixels; as `inpaint_vae`."""
    return _inpaint(fill_gan, model, image, hidden, fills, steps, seed, progress, device, original, classifier)


# --------------------------------------------------------------------------- the stored benchmark

INPAINTING_SUFFIX = "-inpainting.json"  # <checkpoints>/<dataset>-inpainting.json, by bench/inpainting.py
INPAINTING_COLUMNS = ["Filled by", "Hidden-region error (MSE, lower: closer to the truth)",
                      "Sharpness of the hidden region (variance of the Laplacian)",
                      "Classifier accuracy on the completed images"]
INPAINTING_ROWS = {"vae": "VAE", "gan": "GAN", "real": "Real images (the truth)",
                   "visible_only": "Nothing (the hole left black)"}


def inpainting_path(root: str | Path, dataset: str) -> Path:
    return Path(root) / f"{dataset}{INPAINTING_SUFFIX}"


def read_inpainting(root: str | Path, dataset: str) -> dict[str, Any] | None:
    """The stored inpainting benchmark of `dataset` (schema in bench/inpainting.py), or None."""
    try:
        result = json.loads(inpainting_path(root, dataset).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and isinstance(result.get("results"), dict) else None


def _mean_se(entry: dict[str, Any], key: str, digits: int) -> str:
    value, se = entry.get(key), entry.get(f"{key}_se")
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value:.{digits}f}" + (f" ± {se:.{digits}f}" if isinstance(se, (int, float)) and se > 0 else "")


def inpainting_rows(result: dict[str, Any]) -> list[list[str]]:
    """The benchmark as table rows (INPAINTING_COLUMNS): VAE, GAN, real images, the hole left black."""
    rows = []
    for key, label in INPAINTING_ROWS.items():
        entry = result["results"].get(key)
        if not isinstance(entry, dict):
            continue
        name = result.get("models", {}).get(key)
        accuracy = entry.get("accuracy")
        rows.append([f"{label} ({name})" if name else label, _mean_se(entry, "hidden_mse", 4),
                     _mean_se(entry, "sharpness", 3),
                     f"{100 * accuracy:.1f}%" if isinstance(accuracy, (int, float)) else "–"])
    return rows
