"""Nearest training images (genlab.nearest, genlab.ui.nearest): a training image finds itself at
distance ~0, results have their shapes, the reference (test images to their nearest training image)
is stored and read back, a dataset without its training images gets one sentence, and /nearest
answers over plain HTTP."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import requests
import torch
from safetensors import safe_open

from genlab import nearest
from genlab.checkpoints import load_checkpoint, save_checkpoint
from genlab.data import DATA_PATH_ENV, load_dataset
from genlab.models import Classifier
from genlab.ui.images import grid
from genlab.ui.nearest import grid_cell_at, sample_columns
from tests.app_server import call, expect_error, fetch_image, genlab_app, genlab_app_checkpoints  # noqa: F401
from tests.conftest import REPO_ROOT, tiny_config

SHIPPED = REPO_ROOT / "checkpoints" / "mnist-classifier"


@pytest.fixture(scope="module")
def mnist_train():
    return load_dataset("mnist", "train")


@pytest.fixture(scope="module")
def shipped_index():
    if not nearest.NearestIndex.shard_paths(SHIPPED):
        pytest.skip("the MNIST classifier's index is not computed (train/precompute.py mnist-classifier)")
    return nearest.nearest_index(load_checkpoint(SHIPPED))


@pytest.fixture
def tiny_classifier(tmp_path):
    """An untrained tiny classifier of 'mnist' (16 features) in its own folder."""
    torch.manual_seed(0)
    folder = save_checkpoint(Classifier(tiny_config("classifier", num_classes=10)).eval(), tmp_path / "mnist-classifier",
                             "classifier", dataset="mnist", class_names=[str(d) for d in range(10)])
    return load_checkpoint(folder)


# -- the shipped index --------------------------------------------------------------------------------


@pytest.mark.shipped
def test_a_training_image_is_its_own_nearest_neighbour(shipped_index, mnist_train):
    rows = [0, 1234, 7999]
    found = shipped_index.nearest(mnist_train.images[rows], k=5)
    assert found.indices.shape == found.distances.shape == found.labels.shape == (3, 5)
    assert found.images is not None and found.images.shape == (3, 5, 1, 28, 28) and found.missing_images is None
    assert found.indices[:, 0].tolist() == rows
    # float16 features: "zero" is a few thousandths, against a median test distance of about 2
    assert float(found.distances[:, 0].max()) < 0.02 * shipped_index.reference.median
    assert bool((found.distances[:, 1:] >= found.distances[:, :-1]).all()), "nearest first"
    assert torch.equal(found.images[:, 0], mnist_train.images[rows])  # the pictures are the training images
    assert found.labels[:, 0].tolist() == mnist_train.labels[rows].tolist()
    assert "near copy" in found.verdict(0)


@pytest.mark.shipped
def test_the_shipped_reference_is_stored_in_the_file_and_read_back(shipped_index):
    with safe_open(str(nearest.NearestIndex.shard_paths(SHIPPED)[0]), "pt") as f:
        meta = f.metadata()
    stored = json.loads(meta["reference"])
    ref = shipped_index.reference
    assert stored == ref.as_dict() and ref.count == 2000 == int(meta["test_images"])
    assert 0 < ref.p5 < ref.median
    assert ref.share_farther(0.0) == 1.0 and ref.share_farther(1e9) == 0.0
    assert abs(ref.share_farther(ref.median) - 0.5) < 0.01


# -- building, writing and reading an index --------------------------------------------------------------


def test_an_index_round_trips_through_its_shards_with_its_reference(tiny_classifier, mnist_train, monkeypatch):
    train, test = mnist_train.images[:600], load_dataset("mnist", "test").images[:200]
    index = nearest.build_index(tiny_classifier, (train * 255).round().to(torch.uint8), mnist_train.labels[:600], test)
    monkeypatch.setattr(nearest, "MAX_SHARD_BYTES", 100 * index.features.shape[1] * 2)  # 100 rows a shard
    paths = nearest.write_index(index)
    assert len(paths) == 6 and all(p.name.endswith("-of-00006.safetensors") for p in paths)
    read = nearest.NearestIndex.read(tiny_classifier)
    assert torch.equal(read.features, index.features) and torch.equal(read.labels, index.labels)
    assert torch.equal(read.reference.test_distances, index.reference.test_distances)
    assert read.reference.count == 200 and read.reference.median == index.reference.median
    # the stored reference is what searching the test images gives
    _, distances = read.search_features(nearest.classifier_features(tiny_classifier.model, test), k=1)
    assert torch.allclose(distances[:, 0].sort().values, read.reference.test_distances)
    # searching through the stored live dimensions equals brute force over every dimension
    queries = torch.rand(4, 1, 28, 28)
    found = read.nearest(queries, k=3, with_images=False)
    full_train = nearest.classifier_features(tiny_classifier.model, train)[:, read.live_dims].half().float()
    full = torch.zeros(600, tiny_classifier.model.config.feature_dim)
    full[:, read.live_dims] = full_train
    brute = torch.cdist(nearest.classifier_features(tiny_classifier.model, queries), full)
    assert torch.allclose(found.distances, brute.topk(3, largest=False).values, atol=1e-3)
    # written again with fewer shards: the old ones are gone
    monkeypatch.setattr(nearest, "MAX_SHARD_BYTES", 8 * 2**20)
    assert len(nearest.write_index(index)) == 1 and len(list(tiny_classifier.path.glob("nearest-*"))) == 1


def test_without_its_training_images_the_distances_come_with_one_sentence(tiny_classifier, mnist_train, monkeypatch,
                                                                           tmp_path):
    index = nearest.build_index(tiny_classifier, (mnist_train.images[:300] * 255).round().to(torch.uint8),
                                mnist_train.labels[:300], mnist_train.images[:50])
    nearest.write_index(index)
    monkeypatch.setenv(DATA_PATH_ENV, str(tmp_path / "nothing-here"))  # e.g. a copy without data/
    found = nearest.NearestIndex.read(tiny_classifier).nearest(mnist_train.images[:2], k=5)
    assert found.images is None and found.distances.shape == (2, 5)
    assert found.missing_images.startswith("The training images of mnist are not on this server")
    assert found.missing_images.endswith(".") and str(tmp_path) not in found.missing_images
    # here, but other images than the index was built from (300 of the 8,000): said in one sentence too
    monkeypatch.setenv(DATA_PATH_ENV, str(REPO_ROOT / "data"))
    found = nearest.NearestIndex.read(tiny_classifier).nearest(mnist_train.images[:1], k=2)
    assert found.images is None and "not the 300" in found.missing_images


def test_a_missing_or_stale_index_and_a_missing_classifier_are_one_sentence(tiny_classifier, tmp_path):
    with pytest.raises(nearest.NearestUnavailable, match="has not been computed.*precompute.py mnist-classifier"):
        nearest.nearest_index(tiny_classifier)
    index = nearest.build_index(tiny_classifier, torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8),
                                torch.zeros(40, dtype=torch.long), torch.rand(8, 1, 28, 28))
    nearest.write_index(index)
    assert len(nearest.nearest_index(tiny_classifier)) == 40
    other = Classifier(tiny_config("classifier", num_classes=10))
    save_checkpoint(other, tiny_classifier.path, "classifier", dataset="mnist")  # retrained: new weights
    with pytest.raises(nearest.NearestUnavailable, match="other weights"):
        nearest.NearestIndex.read(load_checkpoint(tiny_classifier.path))

    class NoClassifier:
        kind, dataset, classifier = "gan", "my-photos", None

    with pytest.raises(nearest.NearestUnavailable, match="no classifier of my-photos"):
        nearest.index_for(NoClassifier())


def test_verdicts_name_a_near_copy_and_a_typical_distance():
    ref = nearest.Reference(torch.linspace(1.0, 3.0, 101))
    assert "near copy" in nearest.verdict(0.5, ref) and "every one of the 101" in nearest.verdict(0.5, ref)
    assert "closer than 97%" in nearest.verdict(1.05, ref) and "near copy" in nearest.verdict(1.05, ref)
    assert "no sign of copying" in nearest.verdict(2.0, ref)
    assert "not a copy" in nearest.verdict(9.0, ref)


# -- the grid click --------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 5, 13, 32])
def test_a_click_on_the_sample_grid_finds_the_sample_under_it(count):
    shades = torch.arange(1, count + 1) * 5  # one grey per sample, never the white of the gaps
    images = (shades.float() / 255).view(count, 1, 1, 1).expand(count, 1, 28, 28)
    picture = grid(images, ncol=sample_columns(count))
    pixels = torch.from_numpy(np.asarray(picture)[..., 0].copy())
    for y in range(0, picture.height, 7):
        for x in range(0, picture.width, 7):
            at = grid_cell_at(x, y, count, sample_columns(count), 28)
            value = int(pixels[y, x])
            if at is None:
                assert value == 255, (x, y)  # a gap, the edge or an empty cell: white
            else:
                assert value == int(shades[at]), (x, y, at)


# -- the endpoint over plain HTTP -------------------------------------------------------------------------


def test_the_nearest_endpoint_over_plain_http(genlab_app, genlab_app_checkpoints):  # noqa: F811
    classifier = load_checkpoint(genlab_app_checkpoints / "mnist-classifier")
    for path in classifier.path.glob("nearest-*"):
        path.unlink()
    expect_error(call(genlab_app, "nearest", ["mnist-vae-16"]), "has not been computed", "precompute.py")
    nearest.precompute(classifier)  # the tiny app's classifier, on the shipped MNIST subset
    event, (strip, numbers) = call(genlab_app, "nearest", ["mnist-gan-16", 3, 2, 8])
    assert event == "complete", numbers
    distances = [n["distance"] for n in numbers["neighbours"]]
    assert len(distances) == 5 and distances == sorted(distances)
    assert numbers["image"].startswith("sample 2 of seed 3 (8 samples") and numbers["training_images"] == 8000
    assert numbers["reference"]["test_images"] == 2000 and 0 < numbers["reference"]["p5"] < numbers["reference"]["median"]
    assert 0 <= numbers["closer_than_test_images"] <= 1 and numbers["verdict"] and numbers["pictures"] is None
    picture = fetch_image(genlab_app, strip)
    assert picture.size[0] > 5 * picture.size[1]  # the sample and its 5 neighbours in a row
    expect_error(call(genlab_app, "nearest", ["mnist-gan-16", 3, 8, 8]), "Index must be between 0 and 7")
    expect_error(call(genlab_app, "nearest", ["mnist-vae-16", 0, 0, 32, 1.0, None, 0]), "Neighbours must be between 1 and 50")
    info = requests.get(f"{genlab_app}/gradio_api/info", timeout=30).json()
    assert "/nearest" in info["named_endpoints"]


@pytest.mark.shipped
def test_the_python_api_finds_the_nearest_training_images(shipped_index):
    import genlab

    gan = genlab.load("mnist-gan-32")
    found = gan.nearest(gan.sample(3, seed=0), k=4)
    assert found.indices.shape == found.distances.shape == (3, 4) and found.images.shape == (3, 4, 1, 28, 28)
    assert found.reference.median == shipped_index.reference.median and found.verdict(2).endswith(".")
    train = load_dataset("mnist", "train")
    assert gan.nearest(train.images[42]).indices[0, 0] == 42  # a training image finds itself


# -- in the browser ---------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}")
@pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
def test_clicking_a_sample_shows_its_nearest_training_images(genlab_app, genlab_app_checkpoints):  # noqa: F811
    classifier = load_checkpoint(genlab_app_checkpoints / "mnist-classifier")
    if not nearest.NearestIndex.shard_paths(classifier.path):
        nearest.precompute(classifier)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.set_default_timeout(180_000)
        joins: list[str] = []
        page.on("request", lambda r: joins.append(r.url) if "/queue/join" in r.url else None)
        page.goto(genlab_app)
        grid_image = page.locator("#genlab-samples img").first
        grid_image.wait_for()
        page.wait_for_timeout(1000)
        assert joins == [], "the panel adds no event on page open"
        assert "Click a sample" in page.inner_text("#genlab-nearest-note")
        # the 10th sample: row 2, column 2 of the 8-column grid (cells of 84 pixels, 2 apart)
        shown, natural = grid_image.bounding_box(), grid_image.evaluate("(el) => el.naturalWidth")
        scale = shown["width"] / natural
        grid_image.click(position={"x": (2 + 86 + 42) * scale, "y": (2 + 86 + 42) * scale})
        page.wait_for_function("() => document.querySelectorAll('#genlab-nearest img').length === 6")
        note = page.inner_text("#genlab-nearest-note")
        assert note.startswith("Sample 10 of") and "nearest training image is at" in note and "median" in note
        captions = page.inner_text("#genlab-nearest")
        assert "sample 10" in captions and captions.count("#") >= 5
        browser.close()


@pytest.mark.shipped
def test_a_model_trained_on_the_first_images_is_searched_among_those(shipped_index, mnist_train):
    info = {"dataset": "mnist", "train_images": 4000, "training": {"limit": 4000}}
    assert nearest.training_rows(info, shipped_index) == 4000
    assert nearest.training_rows({**info, "dataset": "fashion-mnist"}, shipped_index) is None
    assert nearest.training_rows({"dataset": "mnist", "train_images": 8000, "training": {}}, shipped_index) is None
    late = mnist_train.images[[5000]]  # a training image the model never saw
    assert shipped_index.nearest(late, k=1).indices[0, 0] == 5000
    found = shipped_index.nearest(late, k=3, within=4000)
    assert bool((found.indices < 4000).all()) and float(found.distances[0, 0]) > 0.1


def test_precompute_skips_a_classifier_without_its_training_split_unless_named(tiny_classifier, monkeypatch, tmp_path,
                                                                              capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("precompute_script", REPO_ROOT / "train" / "precompute.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setenv(DATA_PATH_ENV, str(tmp_path / "nothing-here"))
    root = str(tiny_classifier.path.parent)
    assert script.main(["--checkpoints", root]) == 0  # every checkpoint: the index is left out, said so
    assert "no nearest-image index" in capsys.readouterr().out
    assert script.main(["mnist-classifier", "--checkpoints", root]) == 1  # asked for by name: a failure
    assert not list(tiny_classifier.path.glob("nearest-*"))


def test_the_sample_tab_handler_shows_the_sentence_then_the_neighbours(tmp_path):
    import gradio as gr

    from genlab.ui.app import build_app
    from genlab.store import ModelStore
    from tests.app_server import make_tiny_checkpoints

    root = make_tiny_checkpoints(tmp_path / "checkpoints")
    demo = build_app(ModelStore.load(root))
    show = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "show_nearest")
    click = gr.SelectData(None, {"index": [2 + 86 + 40, 2 + 40], "value": None})  # the 2nd sample of 32
    items, note = show("mnist-vae-16", 0, 32, 1.0, 10, click)
    assert len(items) == 1 and note.startswith("**Sample 2** of mnist-vae-16, seed 0: The nearest-training-image")
    assert "has not been computed" in note
    _, note = show("mnist-vae-16", 0, 32, 1.0, 10, gr.SelectData(None, {"index": [86, 40], "value": None}))
    assert "not between the samples" in note
    nearest.precompute(load_checkpoint(root / "mnist-classifier"))
    items, note = show("mnist-vae-16", 0, 32, 1.0, 10, click)
    assert len(items) == 6 and "Its nearest training image is at" in note and "median" in note
