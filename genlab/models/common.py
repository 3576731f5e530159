"""Layout helpers shared by the three models: how many stride-2 stages an image size takes."""

from __future__ import annotations

SUPPORTED_IMAGE_SIZES = (28, 32, 64)
SUPPORTED_CHANNELS = (1, 3)


def check_image_shape(image_size: int, channels: int) -> None:
    """Raise ValueError unless (image_size, channels) is a layout the models support."""
    if image_size not in SUPPORTED_IMAGE_SIZES:
        raise ValueError(f"image_size must be one of {SUPPORTED_IMAGE_SIZES}, got {image_size}.")
    if channels not in SUPPORTED_CHANNELS:
        raise ValueError(f"channels must be one of {SUPPORTED_CHANNELS}, got {channels}.")


def num_stages(image_size: int) -> int:
    """Stride-2 stages between the image and the smallest feature map (28->7, 32->8, 64->8)."""
    return 3 if image_size == 64 else 2


def base_resolution(image_size: int) -> int:
    """Side of the smallest feature map: 7 for 28 pixels, 8 for 32 and 64."""
    return image_size // (2 ** num_stages(image_size))
