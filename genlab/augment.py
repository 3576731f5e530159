"""Differentiable augmentation for GAN discriminators (DiffAugment, Zhao et al. 2020).

With few training images (8,000 MNIST digits here) a discriminator memorizes them and its
gradients stop guiding the generator. DiffAugment shows the discriminator randomly transformed
images, real and generated alike, and keeps every transform differentiable so the generator's
gradient flows back through it. Because fakes are transformed exactly as reals are, the generator
is not pushed to draw shifted or erased digits: the transforms "leak" into neither.

Transforms (each image of a batch gets its own random draw, all from one seeded `torch.Generator`):
- "color": brightness (+-0.25 on [0, 1] images) and contrast (x0.5..x1.5 about the image mean),
  plus saturation (x0..x2 about the grey level) on colour images;
- "translation": a shift by up to 1/8 of the image size in each direction, padding with 0;
- "cutout": one square of half the image size, at a random place, set to 0.

Images are (B, C, H, W) in [0, 1] (pixels may leave that range after "color", as in the paper).

On black-background greyscale data (MNIST, Fashion-MNIST) leave "color" out: a discriminator
that always sees brightness shifts of +-0.25 cannot notice a faint grey haze, and the generator
learns one (on MNIST 60% of its pixels were below 0.02 against 81% of real ones); without it
the haze went and precision and recall both rose (BENCHMARKS.md, "GAN recipes").
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str | Sequence[str] | None) -> tuple[str, ...]:
    """"translation,cutout" or ["color", ...] -> a validated tuple; "", "none" or None -> ()."""
    if policy is None:
        return ()
    parts = policy.split(",") if isinstance(policy, str) else list(policy)
    names = tuple(p.strip().lower() for p in parts if p.strip() and p.strip().lower() != "none")
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"Unknown augmentation {unknown[0]!r}; choose from {', '.join(POLICIES)}.")
    return names


def _uniform(shape: tuple[int, ...], g: torch.Generator, x: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) noise drawn on the CPU from `g` (the same on every device), cast like x."""
    return torch.rand(shape, generator=g).to(device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random brightness and contrast (and saturation when C == 3), per image. (B, C, H, W) -> same."""
    b = x.shape[0]
    x = x + (_uniform((b, 1, 1, 1), g, x) - 0.5) * 0.5  # the paper's +-0.5 on [-1, 1] images
    if x.shape[1] == 3:
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * (_uniform((b, 1, 1, 1), g, x) * 2) + grey
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform((b, 1, 1, 1), g, x) + 0.5) + mean


def translation(x: torch.Tensor, g: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, up to `ratio` of its size each way; 0 fills the gap."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), generator=g).to(x.device)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), generator=g).to(x.device)
    padded = F.pad(x, [sx, sx, sy, sy])
    rows = torch.arange(h, device=x.device).view(1, h, 1) + sy - ty  # (B, H, 1) rows of `padded`
    cols = torch.arange(w, device=x.device).view(1, 1, w) + sx - tx  # (B, 1, W)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # indexing gives (B, H, W, C)


def cutout(x: torch.Tensor, g: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Set one random square of `ratio` of the image size to 0 in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # The square's centre may lie anywhere in the image, so it may be cut by the border.
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=g).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=g).to(x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((rows - cy + ch // 2) >= 0) & ((rows - cy + ch // 2) < ch) \
        & ((cols - cx + cw // 2) >= 0) & ((cols - cx + cw // 2) < cw)  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: str | Sequence[str] | None, g: torch.Generator) -> torch.Tensor:
    """Apply the transforms of `policy` in the paper's order (color, translation, cutout).

    x: (B, C, H, W) -> same shape; differentiable in x. An empty policy returns x itself.
    """
    names = parse_policy(policy)
    for name in POLICIES:  # a fixed order, whatever order the policy lists them in
        if name in names:
            x = _TRANSFORMS[name](x, g)
    return x
