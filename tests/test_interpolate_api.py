"""The "Interpolate" tab over plain HTTP: prepare_input, interpolate, interpolate_compare, and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app_server import (DRAW, GAN_NAME, RANDOM, TEST, UPLOAD, VAE_NAME, call, expect_error, fetch_image,  # noqa: F401
                        genlab_app, picker, upload)

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

INVERSION_STEPS = 20  # the smallest useful number keeps the GAN tests fast


def interpolate_args(model, a=None, b=None, steps=5, mode="linear", inversion_steps=INVERSION_STEPS) -> list:
    return [model, *(a or picker(RANDOM, seed=0)), *(b or picker(TEST, index=3)), steps, mode, inversion_steps]


@pytest.fixture(scope="module")
def drawing_file(genlab_app, tmp_path_factory):
    """A '7' drawn in black on white, uploaded, as the composite of a Sketchpad value."""
    path = tmp_path_factory.mktemp("drawing") / "seven.png"
    im = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(im).line([(60, 60), (220, 60), (120, 240)], fill="black", width=22)
    im.save(path)
    return upload(genlab_app, path)


def sketch(filedata) -> dict:
    return {"background": None, "layers": [], "composite": filedata, "id": None}


# ----------------------------------------------------------------------------- prepare_input


def test_prepare_input_shows_what_the_model_sees(genlab_app):
    event, (image, note) = call(genlab_app, "prepare_input", [VAE_NAME, *picker(TEST, index=5)])
    assert event == "complete"
    assert "test image #5" in note and "28×28" in note
    picture = fetch_image(genlab_app, image)
    assert picture.size[0] >= 28 and np.asarray(picture.convert("L")).std() > 0  # a digit, not a blank

    event, (image, note) = call(genlab_app, "prepare_input", [GAN_NAME, *picker(RANDOM, seed=3)])
    assert event == "complete" and image is not None and "seed 3" in note


def test_prepare_input_explains_a_missing_drawing_without_failing(genlab_app):
    event, (image, note) = call(genlab_app, "prepare_input", [VAE_NAME, *picker(DRAW)])
    assert event == "complete" and image is None and "draw" in note.lower()


def test_prepare_input_a_drawing(genlab_app, drawing_file):
    event, (image, note) = call(genlab_app, "prepare_input", [VAE_NAME, *picker(DRAW, drawing=sketch(drawing_file))])
    assert event == "complete" and image is not None and "drawing" in note
    pixels = np.asarray(fetch_image(genlab_app, image).convert("L"), dtype=np.float32) / 255
    assert 0.02 < pixels.mean() < 0.6  # MNIST style: a light stroke on a dark background


def test_prepare_input_errors(genlab_app):
    expect_error(call(genlab_app, "prepare_input", [VAE_NAME, *picker(TEST, index=10**6)]), "test image number")
    expect_error(call(genlab_app, "prepare_input", [VAE_NAME, *picker(RANDOM, seed=-1)]), "-1")
    expect_error(call(genlab_app, "prepare_input", [VAE_NAME, *picker(RANDOM, seed=math.nan)]), "seed")
    expect_error(call(genlab_app, "prepare_input", [VAE_NAME, *picker(TEST, index=2.5)]), "whole number")


# ----------------------------------------------------------------------------- interpolate


def strip_cells(picture: Image.Image) -> int:
    """How many cells a one-row strip has (columns of white padding separate them)."""
    gray = np.asarray(picture.convert("L"))
    separators = (gray == 255).all(0)
    starts = np.flatnonzero(~separators[1:] & separators[:-1])
    return len(starts)


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolate_vae(genlab_app, mode):
    event, outputs = call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, steps=6, mode=mode))
    assert event == "complete", outputs
    prepared_a, prepared_b, recon_a, recon_b, strip, gif, gif_file, info = outputs
    assert all(x is not None for x in (prepared_a, prepared_b, recon_a, recon_b, strip, gif, gif_file))
    assert "encodes" in info and mode in info
    picture = fetch_image(genlab_app, strip)
    assert picture.width > 5 * picture.height  # one row
    animation = fetch_image(genlab_app, gif)
    assert animation.format == "GIF" and animation.n_frames == 2 * 6 - 2  # forward then back
    assert gif_file["path"].endswith(".gif")


def test_interpolate_gan_inverts_a_drawing(genlab_app, drawing_file):
    a = picker(DRAW, drawing=sketch(drawing_file))
    event, outputs = call(genlab_app, "interpolate_ui", interpolate_args(GAN_NAME, a=a, steps=4))
    assert event == "complete", outputs
    info = outputs[-1]
    assert "inverted" in info and f"{INVERSION_STEPS} steps" in info
    errors = [float(x) for x in __import__("re").findall(r"MSE (\d+\.\d+)", info)]
    assert len(errors) == 2 and all(0 <= e < 1 for e in errors)


def test_interpolate_compare_vae_and_gan(genlab_app):
    event, outputs = call(genlab_app, "interpolate_compare", interpolate_args(VAE_NAME, steps=3))
    assert event == "complete", outputs
    vae_strip, vae_gif, gan_strip, gan_gif, info = outputs
    assert None not in (vae_strip, vae_gif, gan_strip, gan_gif)
    assert VAE_NAME in info and GAN_NAME in info
    assert fetch_image(genlab_app, vae_gif).n_frames == fetch_image(genlab_app, gan_gif).n_frames == 4


def test_interpolate_errors_are_sentences(genlab_app, tmp_path):
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, a=picker(DRAW))), "drawing", "start")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, b=picker(UPLOAD))), "upload", "end")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, steps=math.nan)), "steps")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, steps=1)), "1")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, steps=17)), "16")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, mode="cubic")), "cubic")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args("no-such-model")), "no-such-model")
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(GAN_NAME, inversion_steps=math.nan)), "inversion")

    blank = tmp_path / "blank.png"
    Image.new("RGB", (100, 100), "white").save(blank)
    a = picker(DRAW, drawing=sketch(upload(genlab_app, blank)))
    expect_error(call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, a=a)), "start image")

    # The server keeps serving after all of that.
    assert call(genlab_app, "interpolate_ui", interpolate_args(VAE_NAME, steps=2))[0] == "complete"
