"""The "Edit attributes" tab over plain HTTP: attribute_choices, edit_attribute, define_attribute, errors."""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app_server import (GAN_NAME, TEST, VAE_NAME, call, expect_error, fetch_image, genlab_app,  # noqa: F401
                        picker, upload)

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

INVERSION_STEPS = 20


def edit_args(model=VAE_NAME, image=None, attribute="thickness", method="mean-difference", conditional=False,
              strength=2.0, strip=5, inversion_steps=INVERSION_STEPS) -> list:
    return [model, *(image or picker(TEST, index=7)), attribute, method, conditional, strength, strip,
            inversion_steps]


def pixels(base, filedata, size=28) -> np.ndarray:
    return np.asarray(fetch_image(base, filedata).convert("L").resize((size, size)), dtype=np.float32) / 255


# ----------------------------------------------------------------------------- choices


def test_attribute_choices(genlab_app):
    event, (dropdown,) = call(genlab_app, "attribute_choices", [VAE_NAME, None])
    assert event == "complete"
    values = [v for _, v in dropdown["choices"]]
    labels = [label for label, _ in dropdown["choices"]]
    for name in ("ink", "thickness", "slant", "width", "height", "brightness"):
        assert name in values
    # The VAE's bank holds encoded test images with their true labels: all ten digits.
    assert {f"class:{k}" for k in range(10)} <= set(values)
    assert "class:3->8" in values and "3 → 8" in labels and "More like “7”" in labels
    assert dropdown["value"] == "thickness"

    event, (dropdown,) = call(genlab_app, "attribute_choices", [GAN_NAME, "slant"])
    assert event == "complete" and dropdown["value"] == "slant"  # kept: the GAN offers it too

    expect_error(call(genlab_app, "attribute_choices", ["no-such-model", None]), "no-such-model")


# ----------------------------------------------------------------------------- edits


@pytest.mark.parametrize("attribute, method, conditional", [
    ("class:7", "mean-difference", False),
    ("class:3->8", "mean-difference", False),
    ("thickness", "mean-difference", True),
    ("slant", "linear-boundary", False),  # InterFaceGAN on a pixel attribute (class pairs take longer)
])
def test_edit_attribute_vae(genlab_app, attribute, method, conditional):
    event, outputs = call(genlab_app, "edit_attribute_ui", edit_args(VAE_NAME, attribute=attribute, method=method,
                                                                  conditional=conditional, strength=3.0, strip=5))
    assert event == "complete", outputs
    before, reconstruction, edited, strip, table, info = outputs
    rows = table["data"]  # a table on the page: strength, the classifier's class, how sure
    assert table["headers"] == ["strength", "the classifier says", "how sure"]
    assert [r[0] for r in rows] == ["-3.00", "-1.50", "+0.00", "+1.50", "+3.00"]
    assert all(r[1] in [str(k) for k in range(10)] for r in rows)
    assert all(0 < int(r[2].rstrip("%")) <= 100 for r in rows)
    assert "classifier sees" in info
    assert ("keeping the class" in info) == conditional
    # The edit moves the image: edited (z + 3 d) differs from the model's version of z.
    assert np.abs(pixels(genlab_app, edited) - pixels(genlab_app, reconstruction)).max() > 1e-3
    strip_picture = fetch_image(genlab_app, strip)
    assert strip_picture.width > 3 * strip_picture.height  # five cells in a row, captions under them


def test_edit_attribute_gan_inverts_then_edits(genlab_app):
    event, outputs = call(genlab_app, "edit_attribute_ui", edit_args(GAN_NAME, attribute="ink", strip=3))
    assert event == "complete", outputs
    info = outputs[-1]
    assert "inverted" in info and "Reconstruction error: MSE" in info


def test_zero_strength_leaves_the_latent_alone(genlab_app):
    event, outputs = call(genlab_app, "edit_attribute_ui", edit_args(VAE_NAME, strength=0.0, strip=3))
    assert event == "complete", outputs
    _, reconstruction, edited, _, table, _ = outputs
    assert [r[0] for r in table["data"]] == ["+0.00", "+0.00", "+0.00"]
    assert np.abs(pixels(genlab_app, edited) - pixels(genlab_app, reconstruction)).max() < 2 / 255


def test_edit_attribute_errors(genlab_app):
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(strength=math.nan)), "strength")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(strength=7)), "6")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(attribute="curliness")), "curliness")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(attribute="class:12")), "no class 12")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(attribute="")), "attribute")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(method="pca")), "pca")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(strip=math.nan)), "strip")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(image=picker("Draw"))), "draw")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(model="no-such-model")), "no-such-model")
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(attribute="custom:never-defined")), "define it first")
    assert call(genlab_app, "edit_attribute_ui", edit_args(strip=3))[0] == "complete"  # still serving


# ----------------------------------------------------------------------------- user-defined attributes


def test_define_attribute_from_test_images_then_edit(genlab_app):
    session = uuid.uuid4().hex  # the definition lives in this session's gr.State
    event, outputs = call(genlab_app, "define_attribute",
                          [VAE_NAME, "ones", "2, 5, 14", "1, 3, 4, 6", None, None, INVERSION_STEPS],
                          session_hash=session)
    assert event == "complete", outputs
    _, dropdown, note = outputs  # the gr.State output stays on the server (None here)
    assert dropdown["value"] == "custom:ones" and ["Your attribute: ones", "custom:ones"] in dropdown["choices"]
    assert "3 examples with it and 4 without" in note

    for method, conditional in (("mean-difference", False), ("linear-boundary", True)):
        event, outputs = call(genlab_app, "edit_attribute_ui",
                              edit_args(VAE_NAME, attribute="custom:ones", method=method, conditional=conditional),
                              session_hash=session)
        assert event == "complete", outputs
        assert "your attribute “ones”" in outputs[-1]

    # Another user (session) has not defined it.
    other = uuid.uuid4().hex
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(VAE_NAME, attribute="custom:ones"), session_hash=other),
                 "define it first")
    # Nor has the GAN: definitions belong to the model they were made with.
    expect_error(call(genlab_app, "edit_attribute_ui", edit_args(GAN_NAME, attribute="custom:ones"),
                      session_hash=session), "define it first")


def test_define_attribute_from_uploads_for_the_gan(genlab_app, tmp_path):
    files = {}
    for group, width in (("bold", 40), ("thin", 8)):
        files[group] = []
        for i in range(2):
            path = tmp_path / f"{group}{i}.png"
            im = Image.new("RGB", (200, 200), "white")
            ImageDraw.Draw(im).line([(100, 30 + 10 * i), (100, 170)], fill="black", width=width)
            im.save(path)
            files[group].append(upload(genlab_app, path))
    session = uuid.uuid4().hex
    event, outputs = call(genlab_app, "define_attribute",
                          [GAN_NAME, "bold", "", "", files["bold"], files["thin"], INVERSION_STEPS],
                          session_hash=session)
    assert event == "complete", outputs
    assert "inverted" in outputs[-1]
    event, outputs = call(genlab_app, "edit_attribute_ui", edit_args(GAN_NAME, attribute="custom:bold", strip=3),
                          session_hash=session)
    assert event == "complete", outputs


def test_define_attribute_errors(genlab_app, tmp_path):
    def define(name="x", positives="1, 2", negatives="3, 4", positive_files=None, negative_files=None,
               steps=INVERSION_STEPS):
        return call(genlab_app, "define_attribute",
                    [VAE_NAME, name, positives, negatives, positive_files, negative_files, steps])

    expect_error(define(name=""), "name")
    expect_error(define(name="<script>"), "name")
    expect_error(define(positives="1"), "at least 2")
    expect_error(define(negatives=""), "at least 2")
    expect_error(define(positives="1, two"), "'two'")
    expect_error(define(positives="1, 999999"), "999999")
    expect_error(define(steps=math.nan), "inversion")
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("this is text, not a picture")
    expect_error(define(positives="", positive_files=[upload(genlab_app, not_an_image)] * 2), "image")
