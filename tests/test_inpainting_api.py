"""The "Inpainting" tab over plain HTTP: the `inpaint` endpoint, its named parameters, and bad masks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import requests
from PIL import Image

from app_server import (GAN_NAME, RANDOM, TEST, VAE_NAME, call, expect_error, fetch_image, genlab_app,  # noqa: F401
                        genlab_app_checkpoints, picker, upload)

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

PARAMETERS = ["model", "seed", "image", "mask", "fills", "steps", "fill_seed"]  # the API for programs
BRUSH = "paint with the brush"  # genlab.ui.inpaint.BRUSH


def inpaint_args(model=VAE_NAME, image=None, preset="bottom half", mask=None, fills=2, steps=10, fill_seed=0) -> list:
    return [model, *(image or picker(TEST, index=3)), preset, mask, fills, steps, fill_seed]


def brush(layer_filedata) -> dict:
    """A mask painted with the brush, as the editor sends it: one layer, painted where opaque."""
    return {"background": None, "layers": [layer_filedata] if layer_filedata else [], "composite": None, "id": None}


def layer_file(base, tmp_path, name, size=(224, 224), painted=lambda w, h: (0, h // 2, w, h)):
    """Upload a transparent RGBA layer with the box `painted(w, h)` painted opaque."""
    im = Image.new("RGBA", size, (0, 0, 0, 0))
    if painted is not None:
        box = painted(*size)
        im.paste((217, 70, 239, 255), box)
    path = tmp_path / f"{name}.png"
    im.save(path)
    return upload(base, path)


def small(base, filedata) -> np.ndarray:
    """An output picture brought back to the model's 28x28 pixels (they are enlarged by whole factors)."""
    picture = fetch_image(base, filedata).convert("L")
    return np.asarray(picture.resize((28, 28), Image.Resampling.NEAREST), dtype=np.int16)


def test_the_endpoint_has_named_parameters(genlab_app):
    info = requests.get(f"{genlab_app}/gradio_api/info", timeout=30).json()["named_endpoints"]
    assert [p["parameter_name"] for p in info["/inpaint"]["parameters"]] == PARAMETERS


def test_inpaint_fills_the_bottom_half_with_both_models(genlab_app):
    event, outputs = call(genlab_app, "inpaint_ui", inpaint_args(fills=3))
    assert event == "complete", outputs
    original, masked, vae_fills, vae_numbers, gan_fills, gan_numbers, diffusion_fills, diffusion_numbers, note = outputs
    assert not diffusion_fills and "There is no diffusion model for mnist yet" in diffusion_numbers
    assert len(vae_fills) == len(gan_fills) == 3
    for fills in (vae_fills, gan_fills):
        assert [item["caption"][:5] for item in fills] == ["#1 · ", "#2 · ", "#3 · "]  # the fill and the verdict
    assert VAE_NAME in vae_numbers and GAN_NAME in gan_numbers and "Spread of the guesses" in gan_numbers
    assert "392" in note and "784" in note
    truth = small(genlab_app, original)
    assert np.array_equal(small(genlab_app, masked)[:14], truth[:14])  # the visible half is shown as it is
    for item in vae_fills + gan_fills:
        fill = small(genlab_app, item["image"])
        assert np.array_equal(fill[:14], truth[:14])  # visible pixels kept exactly, through PNG and back


def test_a_seeded_fill_is_the_same_over_http(genlab_app):
    args = inpaint_args(model=GAN_NAME, image=picker(RANDOM, seed=4), preset="centre box", fill_seed=5)
    first, second = call(genlab_app, "inpaint_ui", args), call(genlab_app, "inpaint_ui", args)
    assert first[0] == second[0] == "complete"
    for a, b in zip(first[1][4], second[1][4]):  # the GAN's fills
        assert np.array_equal(small(genlab_app, a["image"]), small(genlab_app, b["image"]))


def test_a_mask_painted_with_the_brush(genlab_app, tmp_path):
    layer = layer_file(genlab_app, tmp_path, "bottom")
    event, outputs = call(genlab_app, "inpaint_ui", inpaint_args(preset=BRUSH, mask=brush(layer)))
    assert event == "complete", outputs
    assert "392" in outputs[-1]


def test_bad_masks_get_one_clear_sentence(genlab_app, tmp_path):
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(preset=BRUSH, mask=None)), "nothing is hidden")
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(preset=BRUSH, mask=brush(None))), "nothing is hidden")
    empty = layer_file(genlab_app, tmp_path, "empty", painted=None)
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(preset=BRUSH, mask=brush(empty))), "nothing is hidden")
    everything = layer_file(genlab_app, tmp_path, "all", painted=lambda w, h: (0, 0, w, h))
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(preset=BRUSH, mask=brush(everything))),
                 "everything is hidden")
    wrong = layer_file(genlab_app, tmp_path, "wide", size=(200, 100))
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(preset=BRUSH, mask=brush(wrong))),
                 "the mask is 200×100 pixels but the image is 28×28")
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(preset="a circle")), "a circle")
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(fills=0)), "minimum value 1")  # Gradio's slider check
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(steps=math.nan)), "steps")
    expect_error(call(genlab_app, "inpaint_ui", inpaint_args(model="no-such-model")), "no-such-model")
    # The server keeps serving after all of that.
    assert call(genlab_app, "inpaint_ui", inpaint_args(fills=1))[0] == "complete"


def test_the_vae_vs_gan_tab_shows_the_stored_inpainting_numbers(genlab_app, genlab_app_checkpoints):
    event, (text,) = call(genlab_app, "compare_inpainting", ["mnist"])
    assert event == "complete" and "No inpainting measurement for mnist" in text
    stored = {"version": 1, "dataset": "mnist", "mask": "bottom half", "images": 200, "steps": 200,
              "models": {"vae": VAE_NAME, "gan": GAN_NAME, "classifier": "mnist-classifier"},
              "results": {"vae": {"hidden_mse": 0.05, "hidden_mse_se": 0.002, "sharpness": 0.09, "sharpness_se": 0.003,
                                  "accuracy": 0.9},
                          "gan": {"hidden_mse": 0.1, "hidden_mse_se": 0.003, "sharpness": 0.21, "sharpness_se": 0.004,
                                  "accuracy": 0.61},
                          "real": {"hidden_mse": 0.0, "hidden_mse_se": 0.0, "sharpness": 0.195, "sharpness_se": 0.004,
                                   "accuracy": 0.995}},
              "claim": {"holds": True, "verdict": "Holds: a test verdict."}}
    path = genlab_app_checkpoints / "mnist-inpainting.json"
    path.write_text(json.dumps(stored))
    try:
        event, (text,) = call(genlab_app, "compare_inpainting", ["mnist"])
    finally:
        path.unlink()
    assert event == "complete"
    assert f"| VAE ({VAE_NAME}) | 0.0500 ± 0.0020 | 0.090 ± 0.003 | 90.0% |" in text
    assert f"| GAN ({GAN_NAME}) | 0.1000 ± 0.0030 | 0.210 ± 0.004 | 61.0% |" in text
    assert "Holds: a test verdict." in text
    expect_error(call(genlab_app, "compare_inpainting", ["no-such-dataset"]), "no-such-dataset")


def test_the_diffusion_model_fills_only_when_asked_or_picked(tmp_path):
    """A class pressing "Fill the hole" at once does not pay for the diffusion fill unless it is asked for
    (the box) or the picked model is a diffusion model itself."""
    from app_server import DIFFUSION_NAME, add_tiny_diffusion, make_tiny_checkpoints

    from genlab.store import ModelStore
    from genlab.ui.inpaint import DIFFUSION_BOX, run_inpaint
    from genlab.ui.shell import Shell

    shell = Shell(ModelStore.load(add_tiny_diffusion(make_tiny_checkpoints(tmp_path))))

    def fill(model: str, with_diffusion: bool):
        return run_inpaint(shell, *inpaint_args(model=model, fills=2, steps=10), with_diffusion)

    *_, diffusion_fills, diffusion_numbers, note = fill(VAE_NAME, False)
    assert not diffusion_fills and DIFFUSION_BOX in diffusion_numbers and "sampling steps" not in note
    *_, diffusion_fills, diffusion_numbers, note = fill(VAE_NAME, True)
    assert len(diffusion_fills) == 2 and "sampling steps" in note
    *_, diffusion_fills, _, _ = fill(DIFFUSION_NAME, False)
    assert len(diffusion_fills) == 2
