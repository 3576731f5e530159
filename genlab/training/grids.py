"""The PNG sample grid written after every epoch (samples/epoch_NNN.png)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def save_image_grid(images: torch.Tensor, path: Path, nrow: int = 8, scale: int = 2) -> None:
    """images: (B, C, H, W) in [0, 1] -> one PNG grid, upscaled `scale` times (nearest)."""
    from PIL import Image

    b, c, h, w = images.shape
    ncol = min(nrow, b)
    nrows = math.ceil(b / ncol)
    pad = 2
    grid = torch.ones(c, nrows * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(b):
        r, col = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = images[i]
    arr = (grid.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    im = Image.fromarray(arr[..., 0] if c == 1 else arr)
    im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
    tmp = path.with_name(f".{path.name}.tmp")
    im.save(tmp, format="PNG")
    os.replace(tmp, path)
