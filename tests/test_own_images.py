"""Issue 33: a model trained on a user's folder of pictures works in every tab, wherever it goes.

A folder of coloured shapes in two sub-folders (PNG and JPEG, 60-120 pixels) trains a tiny VAE and
a tiny GAN with the train/ scripts' command line (32x32 RGB, 2 epochs), and a flat greyscale folder
a tiny VAE; then the folders are deleted, so everything the app shows must come from the
checkpoints. The app starts on those checkpoints alone: over the API the class attribute between
the two sub-folders is offered and an edit along it completes, the test-image picker gives pictures,
and every programmatic endpoint answers; in Chromium every tab opens with no error anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from app_server import TEST, call, fetch_image, running_app
from conftest import REPO_ROOT
from genlab.checkpoints import load_checkpoint
from genlab.heldout import HELDOUT_NAME, read_heldout
from genlab.service import ModelService
from genlab.training import main as train_main

import sys

sys.path.insert(0, str(REPO_ROOT / "tools"))
from shapes_folder import write_folder  # noqa: E402

VAE, GAN, FLAT = "shapes-vae-8", "shapes-gan-8", "greys-vae-8"
TINY = {"vae": ["--latent-dim", "8", "--base-width", "8", "--hidden-dim", "32"],
        "gan": ["--latent-dim", "8", "--width", "8"]}

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]


def train(kind: str, folder: Path, out: Path, channels: int) -> None:
    """The README's command, made tiny: train/<kind>.py --dataset FOLDER --image-size 32 --channels C."""
    argv = ["--dataset", str(folder), "--image-size", "32", "--channels", str(channels), "--epochs", "2",
            "--batch-size", "16", "--threads", "1", "--no-progress", "--out", str(out), *TINY[kind]]
    assert train_main(kind, argv) == 0


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """VAE and GAN of a two-class RGB folder and a VAE of a flat greyscale one; the folders then deleted."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("own-images")
    shapes = write_folder(work / "shapes", count=60)
    greys = write_folder(work / "greys", count=30, grey=True, flat=True)
    root = work / "checkpoints"
    try:
        train("vae", shapes, root / VAE, 3)
        train("gan", shapes, root / GAN, 3)
        train("vae", greys, root / FLAT, 1)
    finally:
        torch.set_num_threads(threads)
    shutil.rmtree(shapes)
    shutil.rmtree(greys)
    return root


def disc(radius: float, colour: tuple[float, float, float], size: int = 32) -> torch.Tensor:
    """A disc of `colour` (RGB in [0, 1]) on a dark grey background, (3, size, size)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    inside = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius ** 2).float()
    background = torch.full((3, size, size), 0.2)
    return background * (1 - inside) + torch.tensor(colour).view(3, 1, 1) * inside


def test_measured_attributes_of_photographs():
    from genlab.attributes import measure_photo

    red, blue, big, grey = disc(6, (1, 0.1, 0.1)), disc(6, (0.1, 0.3, 1)), disc(12, (1, 0.1, 0.1)), disc(6, (0.6,) * 3)
    m = measure_photo(torch.stack([red, blue, big, grey]))
    assert m["hue"][0] > 0.5 > -0.3 > m["hue"][1]  # red is warm, blue cool
    assert m["object_size"][2] > 3 * m["object_size"][0] > 0  # the bigger disc
    assert m["saturation"][3] < 1e-6 < m["saturation"][0]  # grey has no colour
    assert m["brightness"][2] > m["brightness"][0] and m["contrast"][2] > m["contrast"][0] > 0
    flat = measure_photo(torch.full((1, 1, 32, 32), 0.5))
    assert set(flat) == {"brightness", "contrast", "object_size"} and float(flat["object_size"]) == 0.0


def test_the_held_out_set_is_bounded_balanced_and_read_back(tmp_path):
    from genlab.data import ImageData
    from genlab.heldout import write_heldout

    labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 300)
    images = torch.rand(len(labels), 3, 8, 8)
    write_heldout(tmp_path, ImageData(images, labels, ["a", "b", "c"], "abc"), tmp_path / "pictures", limit=40)
    held = read_heldout(tmp_path)
    assert len(held) == 40 and held.class_names == ["a", "b", "c"] and held.name == "abc"
    assert held.labels.tolist().count(1) == 5 and held.labels.tolist().count(0) > 10  # the classes in turn
    for x, c in zip(held.images, held.labels.tolist()):  # each one of the pictures given, of its class, as bytes
        assert (images[labels == c] - x).abs().flatten(1).max(1).values.min() <= 0.5 / 255 + 1e-6


def test_the_checkpoint_carries_its_test_pictures_and_classes(checkpoints):
    for name, channels, classes in ((VAE, 3, ["discs", "squares"]), (GAN, 3, ["discs", "squares"]),
                                    (FLAT, 1, ["greys"])):
        folder = checkpoints / name
        info = json.loads((folder / "config.json").read_text())
        assert info["dataset"] == name.split("-")[0] and info["class_names"] == classes
        assert info["trained_from"].endswith(name.split("-")[0])  # for the record only: the folder is gone
        assert not Path(info["trained_from"]).exists()
        held = read_heldout(folder)
        assert held is not None and (folder / HELDOUT_NAME).stat().st_size < 1_000_000
        assert held.images.shape[1:] == (channels, 32, 32) and 0 < len(held) <= 256
        assert held.class_names == classes and set(held.labels.tolist()) == set(range(len(classes)))
        assert 0.0 <= float(held.images.min()) and float(held.images.max()) <= 1.0
        service = ModelService(load_checkpoint(folder))
        assert service.test_images() is held  # from the checkpoint, not from the (deleted) folder


def test_attributes_of_a_folder(checkpoints):
    for name in (VAE, GAN):
        bank = ModelService(load_checkpoint(checkpoints / name)).attribute_bank()
        names = bank.names()
        assert {"class:0", "class:1", "brightness", "contrast", "saturation", "hue", "object_size"} <= set(names)
        assert "thickness" not in names  # strokes are MNIST's attributes, not a photograph's
        assert bank.ends("class:0->1") == ("more like discs", "more like squares")
        for attribute in ("class:0->1", "saturation"):
            d = bank.direction(attribute)
            assert d.shape == (8,) and torch.isfinite(d).all() and abs(float(d.norm()) - 1) < 1e-4
        kept = bank.direction("brightness", conditional=True)  # keeps the class: orthogonal to the class subspace
        assert float((bank.class_subspace() @ kept).abs().max()) < 1e-4
    flat = ModelService(load_checkpoint(checkpoints / FLAT)).attribute_bank()
    assert not [n for n in flat.names() if n.startswith("class:")]  # one folder, no classes to edit towards
    assert {"brightness", "contrast", "object_size"} <= set(flat.names())
    assert "saturation" not in flat.names()  # greyscale


@pytest.fixture(scope="module")
def base(checkpoints) -> str:
    """The app started on those checkpoints alone."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with running_app(checkpoints) as url:
            yield url
    finally:
        torch.set_num_threads(threads)


def test_every_endpoint_answers_for_the_folder_models(base):
    # The class attribute between the two sub-folders is offered, for the VAE and the GAN.
    for name in (VAE, GAN):
        event, out = call(base, "attribute_choices", [name, None])
        assert event == "complete", out
        choices = {value: label for label, value in out[0]["choices"]}
        assert choices.get("class:0->1") == "discs → squares", choices
        assert out[0]["value"] == "class:0->1"  # a folder's model opens on its class pair
        # ... and an edit along it, from a test image, completes.
        event, out = call(base, "edit_attribute_ui", [name, TEST, None, None, 2, 0, "class:0->1",
                                                      "mean-difference", False, 2.0, 5, 20])
        assert event == "complete", out
        assert "discs" in out[-1] and "squares" in out[-1] and "train/classifier.py" in out[-1]
        # The test-image picker gives pictures, at the model's size.
        event, out = call(base, "prepare_input", [name, TEST, None, None, 3, 0])
        assert event == "complete", out
        assert "test image #3" in out[1] and fetch_image(base, out[0]).size[0] > 0
    event, out = call(base, "attribute_choices", [FLAT, None])
    assert event == "complete" and not [v for _, v in out[0]["choices"] if v.startswith("class:")]

    # The programs' API: every endpoint, each model.
    for name in (VAE, GAN, FLAT):
        event, out = call(base, "sample", [name, 0, 16, 1.0, 10])  # model, seed, count, temperature, steps
        assert event == "complete", out
        event, out = call(base, "edit_attribute", [name, "brightness", 0, None, 2.0, 3])
        assert event == "complete", out
    for name in (VAE, GAN):
        event, out = call(base, "interpolate", [name, 0, 1, None, None, 4, "linear"])
        assert event == "complete", out
        event, out = call(base, "inpaint", [name, 0, None, "bottom half", 2, 10])
        assert event == "complete", out
    event, out = call(base, "edit_attribute", [GAN, "class:0->1", 0, None, 2.0, 3])
    assert event == "complete" and out[1]["attribute"] == "class:0->1", out
    event, out = call(base, "compare", ["shapes", 0, 4])
    assert event == "complete", out

    # The lesson's comparison, with no classifier of the folder: the rows that need none are measured.
    event, out = call(base, "compare_recompute", ["shapes"])
    assert event == "complete", out
    table, _, note = out
    rows = {row[0]: row[2:] for row in table["data"]}
    assert rows["Sharpness"][0] != "—" and "MSE" in rows["Encoder"][1]
    assert "needs a classifier" in rows["Realism"][0] and "train/classifier.py" in note


CHROMIUM = "/usr/bin/chromium"
# The tabs that follow the model picker, walked again for each model; the lessons have a dataset choice.
MODEL_TABS = {VAE: ("Sample", "Latent sliders", "Interpolate", "Inpainting", "Edit attributes"),
              FLAT: ("Latent sliders", "Edit attributes")}
LESSON_TABS = ("VAE vs GAN", "How a VAE works", "How a GAN trains")


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
def test_every_tab_works_in_the_browser(base, checkpoints):
    sync_api = pytest.importorskip("playwright.sync_api")
    from genlab.ui.app import TABS
    from test_self_contained import CHROMIUM_ARGS, choose, problems, run_from_test_image

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(240_000)
        page.goto(base)
        seen = {}
        for model in (GAN, VAE, FLAT):
            choose_model(page, model)
            for tab in [title for title, _ in TABS] if model == GAN else MODEL_TABS[model]:
                open_tab(page, tab)
                seen[f"{model} / {tab}"] = problems(page, checkpoints)
                if tab in LESSON_TABS:  # they open on the first dataset, greys (no GAN): then the other
                    choose(page, "Dataset", "shapes")
                    seen[f"{tab} / shapes"] = problems(page, checkpoints)
        page.wait_for_function(  # the Edit tab says why a flat folder's model has no class attributes
            "() => /without sub-folders/.test(document.querySelector('#genlab-attribute-about').innerText)")
        # The class attribute between the two sub-folders is offered, and an edit along it from a test image completes.
        choose_model(page, VAE)
        open_tab(page, "Edit attributes")
        choose(page, "Attribute", "discs → squares")
        run_from_test_image(page, "Edit attributes", "#genlab-edit-image", "#genlab-edit-button", "#genlab-edited")
        seen["edit from a test image"] = problems(page, checkpoints)
        assert "more like discs → more like squares" in page.inner_text("body")
        browser.close()
    assert {k: v for k, v in seen.items() if v} == {}


def open_tab(page, name: str) -> None:
    """Open the tab called `name` (from the overflow menu when the tab row has no room for it)."""
    from test_self_contained import open_tab as open_any_tab

    open_any_tab(page, name)


def choose_model(page, name: str) -> None:
    """Pick the model called `name` in the model picker (its label ends with the name)."""
    from test_self_contained import settle

    box = page.get_by_label("Model", exact=True).first
    box.click()
    page.get_by_role("option").filter(has_text=name).first.click()
    settle(page)
