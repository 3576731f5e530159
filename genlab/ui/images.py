"""Turning model outputs into crisp pictures for the browser."""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

DISPLAY_SIZE = 224  # pixels a single 28-pixel image is shown at (8x, nearest neighbour)


def to_pil(image: torch.Tensor, size: int = DISPLAY_SIZE) -> Image.Image:
    """image: (C, H, W) in [0, 1] -> a PIL image upscaled to `size` with nearest neighbour."""
    arr = (image.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    im = Image.fromarray(arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0))
    scale = max(1, size // max(im.size))
    return im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)


def grid(images: torch.Tensor, ncol: int | None = None, cell: int = 84, pad: int = 2) -> Image.Image:
    """images: (B, C, H, W) in [0, 1] -> one PIL grid, each cell `cell` pixels, nearest upscaling."""
    b, c, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    scale = max(1, cell // h)
    canvas = np.full((nrow * (h * scale + pad) + pad, ncol * (w * scale + pad) + pad, 3), 255, np.uint8)
    arr = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
    arr = arr.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    if c == 1:
        arr = arr.expand(-1, 3, -1, -1)
    arr = arr.permute(0, 2, 3, 1).numpy()
    for i in range(b):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h * scale + pad), pad + col * (w * scale + pad)
        canvas[y:y + h * scale, x:x + w * scale] = arr[i]
    return Image.fromarray(canvas)


def picture(label: str | None = None, **kwargs: Any) -> gr.Image:
    """An output image shown crisp: PNG (not re-encoded to WebP), a PIL value, nearest-neighbour
    upscaling in the browser. Extra keyword arguments go to `gr.Image`."""
    return gr.Image(label=label, format="png", type="pil", interactive=False,
                    elem_classes=["genlab-pixelated"], **kwargs)
