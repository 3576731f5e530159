"""Issue 7, property tests (hypothesis): whatever the input, the result is well formed or the error clear.

- genlab.preprocess.prepare_image: any size (1-300 pixels a side), PIL mode, content, input form
  (PIL image, array, encoded file) and output setting gives (C, S, S) in [0, 1], or a PreprocessError
  that says why in a sentence (too small, or nothing drawn).
- genlab.latent: interpolation, edit strips, directions and projections of any finite latents are
  finite and of the right shape (or a ValueError with a sentence); a tiny VAE and GAN decode any
  finite float32 latent, however huge, to images in [0, 1]; the VAE encodes any image to finite codes.

tests/test_preprocess.py and tests/test_latent.py hold the known-answer tests and smaller properties.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from conftest import tiny_config
from genlab.latent import (
    DECODE_LIMIT, attribute_direction, decode, edit_strip, encode, interpolate, lerp, principal_directions,
    project_out, sample_latents, slerp,
)
from genlab.models import GAN, VAE
from genlab.preprocess import PreprocessError, prepare_image

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ["L", "LA", "RGB", "RGBA", "P", "I;16", "CMYK", "1", "F"]
EXPECTED_ERRORS = ("at least 2x2", "empty")  # the only reasons a readable image is refused


def assert_clear(error: Exception) -> None:
    """A sentence: the UI shows PreprocessError's as they are, and wraps genlab.latent's ValueErrors."""
    message = str(error)
    assert message.endswith(".") and 20 < len(message) < 300, message
    assert "Traceback" not in message and "object at 0x" not in message, message


# --------------------------------------------------------------------------- image preparation


def make_image(width: int, height: int, mode: str, content: str, seed: int, value_scale: float) -> Image.Image:
    """A width x height image in `mode`: noise, a blob on a background, a gradient or one flat colour."""
    rng = np.random.default_rng(seed)
    if content == "noise":
        gray = rng.integers(0, 256, (height, width))
    elif content == "blob":
        background, ink = rng.integers(0, 256, 2)
        gray = np.full((height, width), background)
        top, left = rng.integers(0, height), rng.integers(0, width)
        gray[top:top + 1 + rng.integers(0, height), left:left + 1 + rng.integers(0, width)] = ink
    elif content == "gradient":
        gray = np.linspace(0, 255, width)[None].repeat(height, 0)
    else:
        gray = np.full((height, width), rng.integers(0, 256))
    gray = gray.astype(np.uint8)
    if mode == "I;16":
        return Image.fromarray(gray.astype(np.uint16) * 257)
    if mode == "F":
        return Image.fromarray(gray.astype(np.float32) / 255 * np.float32(value_scale))  # 0-1, 0-255 or beyond
    im = Image.fromarray(gray)
    if mode in ("LA", "RGBA"):
        alpha = Image.fromarray(rng.integers(0, 256, (height, width)).astype(np.uint8) if content == "noise"
                                else np.full((height, width), 255, np.uint8))
        return Image.merge(mode, [*im.convert(mode[:-1]).split(), alpha])
    return im.convert(mode)


def encoded(im: Image.Image) -> bytes:
    """The image as a file: PNG where PNG holds the mode, else TIFF (CMYK, 32-bit float)."""
    buffer = io.BytesIO()
    im.save(buffer, "TIFF" if im.mode in ("CMYK", "F") else "PNG")
    return buffer.getvalue()


@SETTINGS
@given(width=st.integers(1, 300), height=st.integers(1, 300), mode=st.sampled_from(MODES),
       content=st.sampled_from(["noise", "blob", "gradient", "flat"]), seed=st.integers(0, 2**32 - 1),
       value_scale=st.sampled_from([1.0, 255.0, 1e6]), form=st.sampled_from(["pil", "file"]),
       style=st.sampled_from(["mnist", "fashion", "plain"]), size=st.sampled_from([28, 32, 64]),
       channels=st.sampled_from([1, 3]))
def test_any_image_prepares_to_the_right_shape_in_range_or_a_clear_error(
        width, height, mode, content, seed, value_scale, form, style, size, channels):
    im = make_image(width, height, mode, content, seed, value_scale)
    source = im if form == "pil" else encoded(im)
    try:
        x = prepare_image(source, image_size=size, channels=channels, style=style)
    except PreprocessError as e:
        assert_clear(e)
        assert any(reason in str(e) for reason in EXPECTED_ERRORS), str(e)
        if min(width, height) >= 2:
            assert style != "plain" and "empty" in str(e)  # only "nothing drawn" is left to refuse
        return
    assert min(width, height) >= 2
    assert x.shape == (channels, size, size) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


def image_arrays():
    """(H, W) or (H, W, 1-4) arrays of any pixel type; floats anywhere in their finite range."""
    shapes = st.tuples(st.integers(1, 64), st.integers(1, 64)).flatmap(
        lambda hw: st.sampled_from([hw, (*hw, 1), (*hw, 2), (*hw, 3), (*hw, 4)]))

    def of(dtype):
        floats = st.floats(allow_nan=False, allow_infinity=False, width=32 if dtype == np.float32 else 64)
        return arrays(dtype, shapes, elements=floats if np.issubdtype(dtype, np.floating) else None)

    return st.sampled_from([np.uint8, np.uint16, np.int32, np.float32, np.float64, np.bool_]).flatmap(of)


@SETTINGS
@given(image_arrays(), st.sampled_from(["mnist", "fashion", "plain"]))
def test_any_finite_array_prepares_or_says_why(array, style):
    try:
        x = prepare_image(array, style=style)
    except PreprocessError as e:
        assert_clear(e)
        assert any(reason in str(e) for reason in EXPECTED_ERRORS), str(e)
        return
    assert x.shape == (1, 28, 28) and torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


@SETTINGS
@given(st.integers(2, 40), st.integers(2, 40), st.sampled_from([np.nan, np.inf, -np.inf]), st.integers(0, 10**6))
def test_an_array_with_nan_or_infinity_is_refused_clearly(width, height, bad, seed):
    rng = np.random.default_rng(seed)
    array = rng.random((height, width))
    array[rng.integers(0, height), rng.integers(0, width)] = bad
    with pytest.raises(PreprocessError, match="NaN or infinity") as caught:
        prepare_image(array)
    assert_clear(caught.value)


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=0, max_size=2000))
def test_any_bytes_are_a_picture_or_a_clear_error(data):
    try:
        x = prepare_image(data)
    except PreprocessError as e:
        assert_clear(e)
        return
    assert x.shape == (1, 28, 28) and torch.isfinite(x).all()


# --------------------------------------------------------------------------- latent operations

FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)  # every finite float32, up to 3.4e38
MODERATE = st.floats(-2.0**50, 2.0**50, width=32)  # huge (1e15), but a norm of it stays finite in float32


def latent_pair(elements=MODERATE):
    return st.integers(1, 32).flatmap(lambda d: st.tuples(
        arrays(np.float32, d, elements=elements), arrays(np.float32, d, elements=elements)))


@SETTINGS
@given(latent_pair(), st.integers(2, 64), st.sampled_from(["linear", "spherical"]))
def test_interpolation_of_any_finite_latents_is_finite(pair, steps, mode):
    z0, z1 = (torch.from_numpy(a) for a in pair)
    path = interpolate(z0, z1, steps, mode)
    assert path.shape == (steps, z0.shape[0]) and torch.isfinite(path).all()
    scale = 1e-5 * max(1.0, float(z0.abs().max()), float(z1.abs().max()))
    assert torch.allclose(path[0], z0, atol=scale, rtol=0) and torch.allclose(path[-1], z1, atol=scale, rtol=0)


@SETTINGS
@given(latent_pair(), st.floats(0, 1))
def test_lerp_and_slerp_at_any_weight_are_finite(pair, t):
    z0, z1 = (torch.from_numpy(a) for a in pair)
    for f in (lerp, slerp):
        z = f(z0, z1, t)
        assert z.shape == z0.shape and torch.isfinite(z).all()
        bound = float(torch.maximum(z0.norm(), z1.norm())) * 1.001 + 1e-6  # never outside the larger sphere
        assert float(z.norm()) <= bound


@SETTINGS
@given(latent_pair(), st.floats(-1e6, 1e6, allow_nan=False), st.integers(2, 64))
def test_an_edit_strip_along_any_direction_is_finite(pair, strength, steps):
    z, direction = (torch.from_numpy(a) for a in pair)
    assume(float(direction.norm()) > 0)
    strip = edit_strip(z, direction / direction.norm(), strength, steps)
    assert strip.shape == (steps, z.shape[0]) and torch.isfinite(strip).all()


@SETTINGS
@given(st.integers(2, 16).flatmap(lambda d: st.integers(0, d - 1).flatmap(lambda k: st.tuples(
    arrays(np.float32, d, elements=MODERATE), arrays(np.float32, (k, d), elements=st.floats(-1e6, 1e6, width=32))))))
def test_projecting_out_any_directions_gives_a_unit_vector_or_a_clear_error(vectors):
    direction, others = (torch.from_numpy(a) for a in vectors)
    try:
        v = project_out(direction, others)
    except ValueError as e:
        assert_clear(e)
        return
    assert v.shape == direction.shape and torch.isfinite(v).all()
    assert float(v.norm()) == pytest.approx(1.0, abs=1e-5)


@SETTINGS
@given(st.integers(4, 40).flatmap(lambda n: st.integers(1, 12).flatmap(lambda d: st.tuples(
    arrays(np.float32, (n, d), elements=st.floats(-100, 100, width=32)),
    arrays(np.bool_, n)))),
    st.sampled_from(["mean-difference", "linear-boundary"]))
def test_an_attribute_direction_from_any_examples_is_a_unit_vector_or_a_clear_error(data, method):
    latents, positive = (torch.from_numpy(a) for a in data)
    try:
        v = attribute_direction(latents, positive, method=method)
    except ValueError as e:
        assert_clear(e)
        return
    assert v.shape == (latents.shape[1],) and torch.isfinite(v).all()
    assert float(v.norm()) == pytest.approx(1.0, abs=1e-5)


@SETTINGS
@given(st.integers(2, 40).flatmap(lambda n: st.integers(1, 12).flatmap(lambda d: st.tuples(
    arrays(np.float32, (n, d), elements=st.floats(-1e3, 1e3, width=32)), st.integers(1, min(n, d))))))
def test_principal_directions_of_any_latents_are_finite(data):
    latents, k = torch.from_numpy(data[0]), data[1]
    try:
        directions, variances = principal_directions(latents, k)
    except ValueError as e:
        assert_clear(e)
        return
    assert directions.shape[1] == latents.shape[1] and directions.shape[0] <= k
    assert torch.isfinite(directions).all() and torch.isfinite(variances).all() and (variances >= 0).all()


@SETTINGS
@given(st.integers(1, 16), st.integers(1, 64), st.integers(0, 2**31 - 1), st.floats(0, 100))
def test_sampled_latents_are_finite_and_repeatable(count, dim, seed, scale):
    z = sample_latents(count, dim, seed, scale)
    assert z.shape == (count, dim) and torch.isfinite(z).all()
    assert torch.equal(z, sample_latents(count, dim, seed, scale))


# --------------------------------------------------------------------------- decoding and encoding

torch.manual_seed(0)
_VAE = VAE(tiny_config("vae")).eval()
_GAN = GAN(tiny_config("gan")).eval()


@SETTINGS
@given(st.sampled_from(["vae", "gan"]), st.integers(1, 4), st.data())
def test_any_finite_latent_decodes_to_a_valid_image(kind, batch, data):
    model = _VAE if kind == "vae" else _GAN
    z = data.draw(arrays(np.float32, (batch, model.latent_dim), elements=FLOAT32))
    images = decode(model, torch.from_numpy(z))
    assert images.shape == (batch, 1, 28, 28)
    assert not torch.isnan(images).any() and images.min() >= 0 and images.max() <= 1


def test_decoding_clamps_only_far_outside_the_prior():
    z = torch.randn(3, _VAE.latent_dim, generator=torch.Generator().manual_seed(0)) * 50
    assert torch.equal(decode(_VAE, z), _VAE.decode(z))  # up to +-50 the app's range: untouched
    huge = torch.full((1, _VAE.latent_dim), 3e38)
    assert torch.equal(decode(_VAE, huge), _VAE.decode(torch.full_like(huge, DECODE_LIMIT)))


@SETTINGS
@given(arrays(np.float32, (2, 1, 28, 28), elements=st.floats(0, 1, width=32)))
def test_any_image_encodes_to_finite_codes(images):
    codes = encode(_VAE, torch.from_numpy(images))
    assert codes.shape == (2, _VAE.latent_dim) and torch.isfinite(codes).all()
