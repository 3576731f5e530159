"""The shipped checkpoints load, are small, and the classifiers reach their accuracy; no pickle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from conftest import FASHION_MNIST_DIR, MNIST_SUBSET_DIR, REPO_ROOT
from genlab.checkpoints import DEFAULT_CHECKPOINT_DIR, WEIGHTS_NAME, list_checkpoints, load_checkpoint
from genlab.data import has_idx_files, load_dataset
from genlab.training import STATE_NAME

SHIPPED = list_checkpoints(DEFAULT_CHECKPOINT_DIR)
MB = 1024 * 1024

# name -> (dataset, folder holding its IDX files, the test accuracy it must reach)
CLASSIFIER_TARGETS = {
    "mnist-classifier": ("mnist", MNIST_SUBSET_DIR, 0.98),
    "fashion-mnist-classifier": ("fashion-mnist", FASHION_MNIST_DIR, 0.91),
}


def still_training(folder: Path) -> str | None:
    """Why a checkpoint is an unfinished local run (its resume state is here, epochs short), else None."""
    info = load_checkpoint(folder).info
    wanted = info.get("training", {}).get("epochs", info["epochs"])
    if (folder / STATE_NAME).is_file() and info["epochs"] < wanted:
        return f"{folder.name} is still training (epoch {info['epochs']} of {wanted})"
    return None


@pytest.mark.shipped
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoint_loads(name):
    ckpt = load_checkpoint(SHIPPED[name])
    assert ckpt.kind in ("vae", "gan", "classifier", "diffusion", "latent-diffusion")
    assert ckpt.dataset in ("mnist", "fashion-mnist")
    assert len(ckpt.class_names) == 10
    x = torch.rand(2, ckpt.config.channels, ckpt.config.image_size, ckpt.config.image_size)
    with torch.no_grad():
        if ckpt.kind == "classifier":
            assert ckpt.model(x).shape == (2, 10)
        elif ckpt.kind == "diffusion":  # sampling is tested in test_diffusion.py; one velocity here
            assert ckpt.model(x * 2 - 1, torch.rand(2)).shape == x.shape
        else:  # a VAE, a GAN, or a latent diffusion prior (noise -> its ODE -> the VAE's decoder)
            labels = torch.arange(2) if getattr(ckpt.config, "needs_labels", False) else None
            z = torch.randn(2, ckpt.model.latent_dim)
            images = ckpt.model.decode(z, labels) if labels is not None else ckpt.model.decode(z)
            assert images.shape == x.shape and torch.isfinite(images).all()


@pytest.mark.shipped
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_weights_are_small(name):
    size = (SHIPPED[name] / WEIGHTS_NAME).stat().st_size
    assert size < 10 * MB, f"{name}/{WEIGHTS_NAME} is {size / MB:.1f} MB"


@pytest.mark.shipped
def test_checkpoints_folder_is_small():
    """What would be committed: everything but the git-ignored resume states and temporary files."""
    if not DEFAULT_CHECKPOINT_DIR.is_dir():
        pytest.skip("no checkpoints/ folder")
    files = [p for p in DEFAULT_CHECKPOINT_DIR.rglob("*")
             if p.is_file() and p.name != STATE_NAME and not p.name.endswith(".tmp")]
    total = sum(p.stat().st_size for p in files)
    assert total < 100 * MB, f"checkpoints/ holds {total / MB:.1f} MB"


@pytest.mark.shipped
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASSIFIER_TARGETS))
def test_shipped_classifier_accuracy(name):
    dataset, data_dir, target = CLASSIFIER_TARGETS[name]
    folder = DEFAULT_CHECKPOINT_DIR / name
    if name not in SHIPPED:
        pytest.skip(f"checkpoints/{name} is not there yet (the shipped models are trained by "
                    f"train/ship_checkpoints.sh)")
    if reason := still_training(folder):
        pytest.skip(reason)
    ckpt = load_checkpoint(folder)
    test = load_dataset(dataset, "test", data_dir=data_dir)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(test), 1000):
            correct += int((ckpt.model(test.images[i:i + 1000]).argmax(1) == test.labels[i:i + 1000]).sum())
    accuracy = correct / len(test)
    assert accuracy >= target, f"{name}: test accuracy {accuracy:.4f} < {target}"
    # config.json reports what the model really does
    assert abs(ckpt.metrics["test_accuracy"] - accuracy) < 1e-6


# --------------------------------------------------------------------------- no pickle

UNPICKLE = re.compile(r"\b(?:c?[pP]ickle|dill)\.loads?\s*\(")
TORCH_LOAD = re.compile(r"\btorch\.load\s*\(")


def call_arguments(source: str, open_paren: int) -> str:
    """The text between the parenthesis at `open_paren` and its matching close."""
    depth = 0
    for i in range(open_paren, len(source)):
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        if depth == 0:
            return source[open_paren + 1:i]
    return source[open_paren + 1:]


def unsafe_loads(source: str) -> list[str]:
    """Lines of `source` that unpickle: pickle.load(s) or torch.load( without weights_only=True."""
    line_of = lambda pos: source.count("\n", 0, pos) + 1  # noqa: E731
    found = [f"line {line_of(m.start())}: {m.group(0)}" for m in UNPICKLE.finditer(source)]
    for m in TORCH_LOAD.finditer(source):
        if not re.search(r"\bweights_only\s*=\s*True\b", call_arguments(source, m.end() - 1)):
            found.append(f"line {line_of(m.start())}: torch.load without weights_only=True")
    return found


def test_unsafe_load_detector_can_fail():
    # The calls are assembled from pieces so that this file itself does not look like a pickle load.
    pickle_load, torch_load = "pickle" + ".load", "torch" + ".load"
    assert unsafe_loads(f"import pickle\nx = {pickle_load}(f)\n")
    assert unsafe_loads(f"y = {pickle_load}s(data)")
    assert unsafe_loads(f"state = {torch_load}(path)")
    assert unsafe_loads(f"state = {torch_load}(path, map_location='cpu', weights_only=False)")
    assert not unsafe_loads("state = torch.load(path, weights_only=True)")
    assert not unsafe_loads("state = torch.load(\n    open(path),\n    weights_only=True,\n)")
    assert unsafe_loads("a = torch.load(f(x)); b = dict(weights_only=True)")
    assert not unsafe_loads("from safetensors.torch import load_file\nload_file(path)")


def python_sources() -> list[Path]:
    files = sorted((REPO_ROOT / "genlab").rglob("*.py")) + sorted((REPO_ROOT / "train").rglob("*.py"))
    if (REPO_ROOT / "app.py").is_file():
        files.append(REPO_ROOT / "app.py")
    return files


def test_no_pickle_or_unsafe_torch_load():
    sources = python_sources()
    assert len(sources) > 5
    problems = [f"{p.relative_to(REPO_ROOT)}:{hit}" for p in sources for hit in unsafe_loads(p.read_text())]
    assert not problems, "unpickling code (use safetensors):\n" + "\n".join(problems)


def test_the_curated_first_views_still_show_what_they_are_meant_to():
    """checkpoints/first-views.json picks what a first visit shows; a retrained model can break a pick."""
    import genlab
    from genlab.ui.first_view import FirstViews

    views = FirstViews.read(DEFAULT_CHECKPOINT_DIR)
    assert views.model_name, "checkpoints/first-views.json names no model"
    model = genlab.load(views.model_name)
    # Sample: the page's seed gives a grid that reads well.
    said = model.verdicts(model.sample(32, views.seed))
    assert sum(p >= 0.9 for _, p in said) / len(said) >= 0.75, said
    # Edit: a clear image whose class holds along the whole strip, as the tab opens on it.
    image = model.sample(1, views.edit_seed)[0]
    (start,) = model.verdicts(image[None])
    strip = model.edit(image, views.edit_attribute, strengths=torch.linspace(-2.5, 2.5, 7).tolist(),
                       conditional=views.edit_conditional)
    assert start[1] >= 0.9 and all(c == start[0] for c, _ in model.verdicts(strip)), model.verdicts(strip)
    # Interpolate: two clear images of two different classes.
    a, b = (model.verdicts(model.sample(1, s))[0] for s in views.interpolate_seeds)
    assert a[1] >= 0.9 and b[1] >= 0.9 and a[0] != b[0], (a, b)
