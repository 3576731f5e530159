"""genlab.preprocess: user drawings and uploads come out like MNIST / Fashion-MNIST images."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from genlab.preprocess import PreprocessError, prepare_image, style_for


def drawn_one(size=(300, 200), ink="black", paper="white", mode="RGB") -> Image.Image:
    """A "1" drawn like a user would: a thick, slightly slanted dark stroke on white paper, off centre."""
    im = Image.new(mode, size, paper)
    ImageDraw.Draw(im).line([(170, 30), (150, 170)], fill=ink, width=14)
    return im


def drawn_seven(size=(300, 200)) -> Image.Image:
    """A "7": its mass sits high, so centring by mass moves it down (as MNIST does)."""
    im = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(im)
    d.line([(110, 30), (200, 30)], fill="black", width=14)
    d.line([(200, 30), (140, 170)], fill="black", width=14)
    return im


def drawn_ring(size=(300, 200)) -> Image.Image:
    im = Image.new("RGB", size, "white")
    ImageDraw.Draw(im).ellipse([60, 30, 180, 170], outline="black", width=12)
    return im


def centre_of_mass(x: torch.Tensor) -> tuple[float, float]:
    """(row, column) centre of mass of (1, H, W) in 0-based pixel indices."""
    idx = torch.arange(x.shape[-1], dtype=torch.float32)
    m = x[0].sum()
    return float((x[0].sum(1) * idx).sum() / m), float((x[0].sum(0) * idx).sum() / m)


def check_like_mnist(x: torch.Tensor) -> None:
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1  # MNIST's centres of mass sit at (14, 14)
    ink = (x[0] > 0).nonzero()
    # Inside the central 20x20 box, give or take the one pixel that centring by mass moves it: MNIST
    # puts the centre of mass at (14, 14) (the mean over its test set is (14.01, 14.01)) while the box
    # spans rows 4..23 (centre 13.5), so a symmetric shape 20 pixels tall lands on rows 4..23 or 5..24.
    assert ink.max(0).values.tolist() <= [24, 24] and ink.min(0).values.tolist() >= [4, 4]
    assert int((ink.max(0).values - ink.min(0).values).max()) <= 20
    # light on dark: the border is black, as in MNIST
    assert x[0, 0].max() == 0 and x[0, -1].max() == 0 and x[0, :, 0].max() == 0 and x[0, :, -1].max() == 0


@pytest.mark.parametrize("make", [drawn_one, drawn_ring])
def test_dark_on_light_drawing_comes_out_like_mnist(make):
    x = prepare_image(make())
    check_like_mnist(x)
    # the content fills its 20x20 box along its longer side
    ink = (x[0] > 0).nonzero()
    extent = ink.max(0).values - ink.min(0).values + 1
    assert int(extent.max()) in (19, 20, 21)


def test_top_heavy_digit_is_centred_by_mass_like_mnist():
    x = prepare_image(drawn_seven())
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    ink = (x[0] > 0).nonzero()
    assert ink[:, 0].max() - ink[:, 0].min() + 1 in (19, 20, 21)  # still fits a 20-pixel box
    assert ink[:, 0].min() > 4  # moved down from the central box: its top bar is heavy


def test_ring_stays_a_ring():
    x = prepare_image(drawn_ring())
    assert x[0, 14, 14] == 0  # the hole is dark
    assert x[0, 14].max() > 0.5  # the sides are lit


def test_light_on_dark_and_dark_on_light_give_the_same_digit():
    a = prepare_image(drawn_one())
    b = prepare_image(drawn_one(ink="white", paper="black"))
    assert torch.allclose(a, b, atol=1e-5)


def test_transparent_sketchpad_value():
    layer = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(layer).line([(170, 30), (150, 170)], fill=(0, 0, 0, 255), width=14)
    expected = prepare_image(drawn_one())
    for value in (
        {"composite": layer, "background": None, "layers": [layer]},
        {"composite": np.asarray(layer), "background": None, "layers": []},
        {"background": None, "layers": [layer]},
        {"background": Image.new("RGBA", (300, 200), (255, 255, 255, 255)), "layers": [layer], "composite": None},
    ):
        assert torch.allclose(prepare_image(value), expected, atol=1e-5)
    white_strokes = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(white_strokes).line([(170, 30), (150, 170)], fill=(255, 255, 255, 255), width=14)
    check_like_mnist(prepare_image({"composite": white_strokes}))


@pytest.mark.parametrize("value", [
    Image.new("L", (280, 280), 255),
    Image.new("L", (280, 280), 0),
    np.zeros((100, 100, 4), np.uint8),  # fully transparent sketchpad
    {"composite": None, "background": None, "layers": []},
    {"composite": Image.new("RGBA", (50, 50), (0, 0, 0, 0))},
])
def test_empty_drawing_is_a_clear_error(value):
    with pytest.raises(PreprocessError, match="empty"):
        prepare_image(value)


@pytest.mark.parametrize("mode", ["RGBA", "P", "LA", "CMYK", "I;16", "I", "F", "1", "L"])
def test_every_pil_mode_works(mode):
    expected = prepare_image(drawn_one())
    x = prepare_image(drawn_one().convert(mode))
    assert x.shape == (1, 28, 28)
    tolerance = 0.3 if mode == "1" else 0.02  # mode "1" is a dithered, 1-bit image
    assert (x - expected).abs().mean() < tolerance


def test_true_16_bit_and_float_arrays():
    gray = np.asarray(drawn_one().convert("L"))
    expected = prepare_image(gray)
    sixteen = Image.fromarray((gray.astype(np.uint16) * 257))
    assert sixteen.mode.startswith("I;16")
    assert torch.allclose(prepare_image(sixteen), expected, atol=1e-2)
    assert torch.allclose(prepare_image(gray / 255.0), expected, atol=1e-2)
    assert torch.allclose(prepare_image(np.asarray(drawn_one())), expected, atol=1e-2)
    assert torch.allclose(prepare_image(np.asarray(drawn_one().convert("RGBA"))), expected, atol=1e-2)


def test_file_paths_and_exif_orientation(tmp_path):
    upright = prepare_image(drawn_one())
    path = tmp_path / "one.png"
    drawn_one().save(path)
    assert torch.allclose(prepare_image(path), upright, atol=1e-5)
    assert torch.allclose(prepare_image(str(path)), upright, atol=1e-5)
    # A camera that stored the picture rotated, with EXIF orientation 6 ("rotate 90 clockwise to view").
    rotated = drawn_one().transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = tmp_path / "photo.jpg"
    rotated.save(jpeg, exif=exif, quality=95)
    assert (prepare_image(jpeg) - upright).abs().mean() < 0.03
    bad = tmp_path / "not_an_image.png"
    bad.write_text("hello")
    with pytest.raises(PreprocessError, match="could not be read"):
        prepare_image(bad)
    with pytest.raises(PreprocessError, match="no file"):
        prepare_image(tmp_path / "missing.png")


def test_tiny_and_huge_images_are_refused_clearly(tmp_path):
    with pytest.raises(PreprocessError, match="at least 2x2"):
        prepare_image(np.zeros((1, 1), np.uint8))
    with pytest.raises(PreprocessError, match="at least 2x2"):
        prepare_image(Image.new("L", (1, 40)))
    with pytest.raises(PreprocessError, match="megapixels"):
        prepare_image(np.zeros((300, 400), np.uint8), max_pixels=100_000)
    # Decompression bombs: tiny files whose headers claim 10000 x 10000 (100 megapixels, above our
    # limit) and 20000 x 20000 pixels (400 megapixels, above PIL's own bomb limit). They are refused
    # from the header, before any pixel is decoded (their pixel data is not even valid).
    for side in (10000, 20000):
        bomb = tmp_path / f"bomb{side}.png"
        bomb.write_bytes(png_header_only(side, side))
        with pytest.raises(PreprocessError, match="megapixels"):
            prepare_image(bomb)
        with pytest.raises(PreprocessError, match="megapixels"):
            prepare_image(bomb.read_bytes())


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk for a width x height 8-bit grayscale image, and a bogus IDAT."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_fashion_and_plain_styles():
    shoe = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(shoe).rectangle([40, 30, 260, 100], fill=(90, 60, 30))
    x = prepare_image(shoe, style="fashion")
    assert x.shape == (1, 28, 28) and x.max() == pytest.approx(1.0)
    ink = (x[0] > 0.5).nonzero()
    assert ink[:, 1].min() <= 1 and ink[:, 1].max() >= 26  # the longer side fills the frame
    assert x[0, 0].max() == 0  # light object on black
    rgb = prepare_image(shoe, image_size=32, channels=3, style="plain")
    assert rgb.shape == (3, 32, 32) and 0 <= rgb.min() and rgb.max() <= 1
    assert rgb[0, 16, 16] > rgb[2, 16, 16]  # colours kept: the brown box is redder than blue
    assert prepare_image(drawn_one(), channels=3).shape == (3, 28, 28)
    with pytest.raises(ValueError):
        prepare_image(shoe, style="cifar")


def test_style_for_dataset_names():
    assert style_for("mnist") == "mnist"
    assert style_for("fashion-mnist") == "fashion"
    assert style_for("synthetic") == "plain"
    assert style_for("/data/my-photos") == "plain"


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 120), st.integers(1, 120),
    st.sampled_from(["L", "RGB", "RGBA", "LA", "P", "I;16", "CMYK"]),
    st.sampled_from(["mnist", "fashion", "plain"]),
    st.integers(0, 2**31 - 1),
)
def test_any_image_gives_the_right_shape_in_range_or_a_clear_error(w, h, mode, style, seed):
    rng = np.random.default_rng(seed)
    pixels = (rng.random((h, w)) < rng.random()).astype(np.uint8) * 255
    im = Image.fromarray(pixels).convert(mode)
    try:
        x = prepare_image(im, style=style)
    except PreprocessError as e:
        assert str(e).endswith(".") and len(str(e)) > 20
        return
    assert x.shape == (1, 28, 28)
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
