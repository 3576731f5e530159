"""User images prepared the way the training data was: drawings and photos -> model-ready tensors.

MNIST digits are white on black, scaled to fit a 20x20 box (keeping their aspect) and placed in a
28x28 frame so that their centre of mass is at the centre. Fashion-MNIST items are light on black
too (negated product photos), trimmed and scaled so the longer side fills the frame, centred by
their bounding box. `prepare_image` reproduces these steps for a drawing or an upload, whatever its
size, colour mode, orientation (EXIF) or transparency, and says in one sentence what is wrong
when it cannot.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

STYLES = ("mnist", "fashion", "plain")
MAX_PIXELS = 40_000_000  # larger images are refused from their header, before any pixel is decoded
# Raster formats a picture comes in (JPEG includes phones' MPO). Others (EPS runs Ghostscript, PSD,
# ICNS, ...) are not even tried.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
MNIST_BOX = 20  # MNIST fits each digit into 20x20 pixels of its 28x28 frame
CONTENT_THRESHOLD = 0.1  # after background removal, pixels below 10% of the brightest are background
EMPTY_CONTRAST = 0.05  # content fainter than this (on a 0-1 scale) counts as nothing drawn


class PreprocessError(ValueError):
    """An image cannot be used; the message is a sentence to show the user."""


def style_for(dataset: str) -> str:
    """The preprocessing style that matches a dataset name ("mnist", "fashion" or "plain")."""
    key = (dataset or "").lower()
    if "fashion" in key:
        return "fashion"
    if "mnist" in key:
        return "mnist"
    return "plain"


# --------------------------------------------------------------------------- reading any input


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 2 or height < 2:
        raise PreprocessError(f"The image is {width}x{height} pixels; it needs to be at least 2x2.")
    if width * height > max_pixels:
        raise PreprocessError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); "
            f"the limit is {max_pixels / 1e6:.0f} megapixels. Please use a smaller image."
        )


def _sniff(head: bytes) -> None:
    """Refuse, by their first bytes, files that are no picture at all (empty, SVG, HTML, text)."""
    if not head:
        raise PreprocessError("The file is empty (0 bytes): upload a PNG or JPEG picture.")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):  # markup; every raster format starts otherwise
        raise PreprocessError("This is an SVG, HTML or XML file, not a picture: upload a PNG or JPEG instead.")


def open_image(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS):
    """Open an image file (a path or its bytes) and decode its first frame, or say what is wrong.

    The size is read from the header and checked before any pixel is decoded, so a decompression
    bomb (a small file that claims a huge image) costs nothing; only IMAGE_FORMATS are tried.
    Large JPEGs are decoded at a reduced scale (prepare_image shrinks images to 1024 pixels first).
    Returns a PIL image (its EXIF orientation not yet applied). Raises PreprocessError.
    """
    from PIL import Image

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _sniff(data[:512])
        source = io.BytesIO(data)
    else:
        try:
            with open(source, "rb") as f:
                _sniff(f.read(512))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise PreprocessError(f"There is no file at {source}.") from None
        except OSError:
            raise PreprocessError("This file could not be opened.") from None
    Image.init()  # registers every format plugin (open(formats=...) needs those it names loaded)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            im = Image.open(source, formats=IMAGE_FORMATS)  # reads the header only
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise PreprocessError(
            f"The image is far too large (over {limit / 1e6:.0f} megapixels); the limit is "
            f"{max_pixels / 1e6:.0f} megapixels. Please use a smaller image."
        ) from None
    except (OSError, ValueError, SyntaxError, TypeError, struct.error):
        raise PreprocessError(
            "This file could not be read as an image: Genlab reads PNG, JPEG, GIF, WebP, BMP and TIFF pictures."
        ) from None
    _check_size(im.width, im.height, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if im.format in ("JPEG", "MPO") and max(im.size) > 2048:
                im.draft(im.mode, (1024, 1024))  # DCT scaling: decode at 1/2, 1/4 or 1/8 of the size
            im.load()
    except Exception:  # noqa: BLE001 - any decoding failure is the same problem to the user
        raise PreprocessError("This image file is damaged or truncated and could not be decoded.") from None
    if getattr(im, "n_frames", 1) > 1:  # an animation (or a phone's MPO): keep the first frame, close the file
        first = im.copy()
        im.close()
        im = first
    return im


def _from_numpy(array: np.ndarray, max_pixels: int):
    """An (H, W), (H, W, 1|2|3|4) array of uint8, uint16, bool or float -> PIL image."""
    from PIL import Image

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] in (1, 2, 3, 4):
        pass
    elif a.ndim != 2:
        raise PreprocessError(
            f"An image array must be (height, width) or (height, width, 1-4 channels); got shape {a.shape}."
        )
    _check_size(a.shape[1], a.shape[0], max_pixels)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint8:
        pass
    elif np.issubdtype(a.dtype, np.integer):
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        a = (np.clip(a.astype(np.float64), 0, top) / top * 255.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise PreprocessError("The image holds invalid numbers (NaN or infinity).")
        top = 255.0 if a.max(initial=0) > 1.0 else 1.0
        a = (np.clip(a.astype(np.float64), 0, top) / top * 255.0 + 0.5).astype(np.uint8)
    else:
        raise PreprocessError(f"Image arrays of type {a.dtype} are not supported.")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return Image.fromarray(np.ascontiguousarray(a))  # (H, W) -> L, 2 -> LA, 3 -> RGB, 4 -> RGBA


def _from_gradio(value: dict, max_pixels: int):
    """A Gradio Sketchpad / ImageEditor value -> one RGBA image (the composite, else background + layers)."""
    from PIL import Image

    composite = value.get("composite")
    if composite is not None:
        return _to_pil(composite, max_pixels)
    parts = [value.get("background")] + list(value.get("layers") or [])
    images = [_to_pil(p, max_pixels).convert("RGBA") for p in parts if p is not None]
    if not images:
        raise PreprocessError("The drawing is empty: draw something first.")
    canvas = Image.new("RGBA", images[0].size, (0, 0, 0, 0))
    for im in images:
        if im.size != canvas.size:
            im = im.resize(canvas.size)
        canvas.alpha_composite(im)
    return canvas


def _to_pil(image: Any, max_pixels: int):
    """Any supported input -> a PIL image whose size has been checked (EXIF not yet applied)."""
    from PIL import Image

    if image is None:
        raise PreprocessError("There is no image: draw or upload one first.")
    if isinstance(image, dict):
        return _from_gradio(image, max_pixels)
    if isinstance(image, Image.Image):
        _check_size(image.width, image.height, max_pixels)
        return image
    if isinstance(image, (str, os.PathLike)):
        return open_image(os.fspath(image), max_pixels)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return open_image(bytes(image), max_pixels)
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 3, 4) and t.shape[-1] not in (1, 3, 4):
            t = t.permute(1, 2, 0)  # (C, H, W) -> (H, W, C)
        return _from_numpy(t.numpy(), max_pixels)
    if isinstance(image, np.ndarray):
        return _from_numpy(image, max_pixels)
    raise PreprocessError(f"Cannot read an image from a {type(image).__name__}.")


def _to_float(im) -> tuple[np.ndarray, np.ndarray | None]:
    """PIL image of any mode -> (RGB (H, W, 3) float32 in [0, 1], alpha (H, W) or None)."""
    from PIL import ImageOps

    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - broken EXIF is not worth refusing the image for
        pass
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        peak = a.max(initial=0)
        # 16-bit files use 0-65535, but images converted to 16 bits by PIL keep 0-255; floats may be 0-1.
        top = 1.0 if (mode == "F" and peak <= 1.0) else 255.0 if peak <= 255.0 else max(65535.0, peak)
        g = np.clip(a / top, 0, 1).astype(np.float32)
        return np.repeat(g[:, :, None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info) \
        or (mode in ("L", "RGB") and "transparency" in im.info)
    im = im.convert("RGBA" if has_alpha else "RGB")
    a = np.asarray(im, dtype=np.float32) / 255.0
    if has_alpha:
        return a[:, :, :3], a[:, :, 3]
    return a, None


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _flatten_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Composite onto a background that contrasts with the opaque content (transparent = background).

    A sketchpad gives opaque strokes on a transparent canvas; strokes may be dark or light, so the
    background is white under dark strokes and black under light ones.
    """
    if alpha is None:
        return rgb
    if alpha.max() <= 0.0:
        raise PreprocessError("The drawing is empty: draw something first.")
    if alpha.min() >= 1.0:
        return rgb
    content_luma = float((_luma(rgb) * alpha).sum() / max(alpha.sum(), 1e-8))
    background = 1.0 if content_luma < 0.5 else 0.0
    return rgb * alpha[:, :, None] + background * (1.0 - alpha[:, :, None])


def _resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(C, H, W) -> (C, height, width), antialiased bilinear (area-like when shrinking)."""
    if x.shape[1:] == (height, width):
        return x
    return F.interpolate(x[None], size=(height, width), mode="bilinear", antialias=True,
                         align_corners=False)[0].clamp_(0, 1)


def _shrink_large(im, longest: int = 1024):
    """Shrink very large images early: the result is at most 28-64 pixels, so detail beyond ~1k is moot."""
    from PIL import Image

    if max(im.size) > longest:
        im = im.copy()
        im.thumbnail((longest, longest), Image.Resampling.BOX)
    return im


# --------------------------------------------------------------------------- the pipeline


def prepare_image(image: Any, image_size: int = 28, channels: int = 1, style: str = "mnist",
                  max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Prepare a user's image like the training data -> (channels, image_size, image_size) in [0, 1].

    image: PIL image, numpy array (H, W) / (H, W, 3) / (H, W, 4) of uint8 or float, a file path or
    bytes, or a Gradio Sketchpad / ImageEditor value (dict with "composite" and/or "background" and
    "layers"; transparent pixels are background).
    style: "mnist" (invert dark-on-light, crop to the content, fit it in a 20x20 box keeping aspect,
    centre by centre of mass in the frame), "fashion" (invert dark-on-light, crop, fit the longer side
    to the frame, centre by bounding box), or "plain" (centre crop and resize; colours kept).
    Raises PreprocessError (a ValueError with a user-facing sentence) when the image is unusable:
    too small, too large, unreadable or empty.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    if not 4 <= int(image_size) <= 1024:
        raise ValueError(f"image_size must be from 4 to 1024, got {image_size}.")
    im = _shrink_large(_to_pil(image, max_pixels))
    rgb, alpha = _to_float(im)
    rgb = _flatten_alpha(rgb, alpha)
    if style == "plain":
        return _plain(rgb, image_size, channels)

    gray = _luma(rgb).astype(np.float32)
    content = _light_on_dark(gray)  # (H, W) in [0, 1], background 0, brightest content 1
    rows = np.flatnonzero(content.max(axis=1) > 0)
    cols = np.flatnonzero(content.max(axis=0) > 0)
    content = content[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # crop to the content's bounding box
    x = torch.from_numpy(np.ascontiguousarray(content))[None]  # (1, h, w)
    if style == "mnist":
        out = _place_mnist(x, image_size)
    else:
        out = _place_fashion(x, image_size)
    out = out / out.max().clamp_min(1e-8)  # resizing softens the peak; restore the brightest to 1
    return out.expand(channels, -1, -1).contiguous()


def _light_on_dark(gray: np.ndarray) -> np.ndarray:
    """Make the content light on a black background; raise PreprocessError when nothing is drawn.

    Dark-on-light (the border's median is above 0.5, or, with an ambiguous border, the whole image's
    median is) is inverted. The background level is subtracted, faint noise below 10% of the
    brightest content is cleared, and the result scaled so the brightest pixel is 1.
    """
    h, w = gray.shape
    band = max(1, min(h, w) // 50)
    border = np.concatenate([gray[:band].ravel(), gray[-band:].ravel(), gray[:, :band].ravel(), gray[:, -band:].ravel()])
    level = float(np.median(border))
    if abs(level - 0.5) < 0.05:
        level = float(np.median(gray))
    if level > 0.5:
        gray = 1.0 - gray
        level = 1.0 - level
    x = np.clip(gray - level, 0.0, None)
    peak = float(x.max())
    if peak < EMPTY_CONTRAST:
        raise PreprocessError("The drawing is empty: draw a digit or an object first.")
    x = x / peak
    x[x < CONTENT_THRESHOLD] = 0.0
    return x


def _pad_square(x: torch.Tensor) -> torch.Tensor:
    """(C, h, w) -> (C, s, s), s = max(h, w), the content centred on black."""
    _, h, w = x.shape
    s = max(h, w)
    top, left = (s - h) // 2, (s - w) // 2
    return F.pad(x, (left, s - w - left, top, s - h - top))


def _fit(x: torch.Tensor, box: int) -> torch.Tensor:
    """Resize (C, h, w) so the longer side is `box` pixels, keeping the aspect ratio."""
    _, h, w = x.shape
    scale = box / max(h, w)
    return _resize(x, max(1, round(h * scale)), max(1, round(w * scale)))


def _place_mnist(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Fit in a 20/28 box, then shift (whole pixels) so the centre of mass is at the frame's centre."""
    box = max(1, round(image_size * MNIST_BOX / 28))
    x = _fit(x, box)
    _, h, w = x.shape
    mass = x[0].sum().clamp_min(1e-8)
    cy = float((x[0].sum(1) * torch.arange(h)).sum() / mass)
    cx = float((x[0].sum(0) * torch.arange(w)).sum() / mass)
    # MNIST's centres of mass sit at (14, 14) in 0-based pixel indices of the 28x28 frame.
    centre = image_size / 2
    top = min(max(round(centre - cy), 0), image_size - h)  # clamp: never push ink out of the frame
    left = min(max(round(centre - cx), 0), image_size - w)
    out = torch.zeros((1, image_size, image_size))
    out[:, top:top + h, left:left + w] = x
    return out


def _place_fashion(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Fit the longer side to the frame, keeping the aspect ratio, centred by the bounding box."""
    return _resize(_pad_square(x), image_size, image_size)


def _plain(rgb: np.ndarray, image_size: int, channels: int) -> torch.Tensor:
    """Centre crop to a square and resize, like genlab.data.load_image."""
    h, w, _ = rgb.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    rgb = rgb[top:top + side, left:left + side]
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float()
    if channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0, keepdim=True)
    return _resize(x, image_size, image_size).clamp(0, 1)
