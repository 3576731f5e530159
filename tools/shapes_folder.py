"""Write a folder of pictures a user might bring: one sub-folder per kind, PNG and JPEG, mixed sizes.

    python tools/shapes_folder.py /tmp/myimgs                 # 300 pictures: discs/ and squares/
    python tools/shapes_folder.py /tmp/grey --count 120 --grey --flat   # no sub-folders, greyscale

Each picture is one bright shape (a disc or a square, its own colour, size, place and angle) on a
darker, tinted background with a little noise, 60 to 120 pixels a side. The README's "Your own
images" walkthrough and tests/test_own_images.py train on such folders.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

KINDS = ("discs", "squares")


def draw_shape(kind: str, rng: random.Random, grey: bool = False) -> Image.Image:
    """One picture of `kind` ("discs" or "squares"), a random size from 60 to 120 pixels."""
    side = rng.randint(60, 120)
    width = side + rng.randint(0, 12)  # not always square: the loader centre-crops
    hue = rng.random()
    background = tuple(int(40 + 50 * rng.random()) for _ in range(3))
    image = Image.new("RGB", (width, side), background)
    draw = ImageDraw.Draw(image)
    radius = side * rng.uniform(0.18, 0.34)
    cx = width / 2 + rng.uniform(-0.12, 0.12) * side
    cy = side / 2 + rng.uniform(-0.12, 0.12) * side
    colour = _hsv(hue, rng.uniform(0.5, 1.0), rng.uniform(0.75, 1.0))
    if kind == "discs":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
    else:
        angle = rng.uniform(0, math.pi / 2)
        corners = [(cx + radius * math.cos(angle + k * math.pi / 2) * math.sqrt(2) * 0.85,
                    cy + radius * math.sin(angle + k * math.pi / 2) * math.sqrt(2) * 0.85) for k in range(4)]
        draw.polygon(corners, fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    noise = Image.effect_noise((width, side), 12).convert("RGB")
    image = Image.blend(image, noise, 0.06)
    return image.convert("L") if grey else image


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(h, s, v))  # type: ignore[return-value]


def write_folder(root: str | Path, count: int = 300, seed: int = 0, grey: bool = False,
                 flat: bool = False) -> Path:
    """Write `count` pictures under `root` (half of each kind; every third one a JPEG). Returns root."""
    root = Path(root)
    rng = random.Random(seed)
    for i in range(count):
        kind = KINDS[i % 2]
        folder = root if flat else root / kind
        folder.mkdir(parents=True, exist_ok=True)
        image = draw_shape(kind, rng, grey)
        if i % 3 == 0:
            image.save(folder / f"{kind[:-1]}_{i:04d}.jpg", quality=90)
        else:
            image.save(folder / f"{kind[:-1]}_{i:04d}.png")
    return root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder")
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grey", action="store_true", help="greyscale pictures")
    p.add_argument("--flat", action="store_true", help="all pictures in the folder itself, no sub-folders")
    args = p.parse_args()
    print(write_folder(args.folder, args.count, args.seed, args.grey, args.flat))


if __name__ == "__main__":
    main()
