"""The model service (genlab.service) and the layering it enforces (issue 13).

The tabs in genlab/ui reach models only through a ModelService: no module there imports a model
class or touches a checkpoint's `.model`; there is one decoding path and one inversion path.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from app_server import make_tiny_checkpoints
from conftest import REPO_ROOT
from genlab.service import (ARTEFACTS_NAME, INVERSION_STEPS, MAX_CACHED_INVERSIONS, ModelService, ServiceError)
from genlab.store import ModelStore

UI = REPO_ROOT / "genlab" / "ui"
MODEL_CLASSES = {"VAE", "GAN", "Generator", "Discriminator", "Classifier"}


# --------------------------------------------------------------------------- the layering


def ui_violations(source: str) -> list[str]:
    """What a genlab/ui module must not do: import torch model classes or genlab.models' classes,
    read `.model` of a checkpoint, or import the low-level decode/encode/invert of genlab.latent."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            if node.module.startswith("genlab.models") and names & MODEL_CLASSES:
                found.append(f"line {node.lineno}: imports model classes {sorted(names & MODEL_CLASSES)}")
            if node.module in ("genlab.latent",) and names & {"decode", "encode", "invert"}:
                found.append(f"line {node.lineno}: imports {sorted(names & {'decode', 'encode', 'invert'})} "
                             f"from genlab.latent (use the model's service)")
            if node.module.startswith("genlab.training"):
                found.append(f"line {node.lineno}: imports the training code")
        if isinstance(node, ast.Attribute) and node.attr == "model" and not (
                isinstance(node.value, ast.Name) and node.value.id in ("shell", "self", "gr")):
            found.append(f"line {node.lineno}: reads .model")
    return found


def test_the_scanner_can_fail():
    bad = ("from genlab.models import VAE\nfrom genlab.latent import invert\n"
           "def f(ckpt):\n    return ckpt.model.decode(1)\n")
    assert len(ui_violations(bad)) == 3
    assert ui_violations("def f(shell, name):\n    return shell.model(name).decode(1)\n") == []


@pytest.mark.parametrize("path", sorted(UI.glob("*.py")), ids=lambda p: p.name)
def test_ui_modules_reach_models_only_through_the_service(path: Path):
    assert ui_violations(path.read_text()) == []


def test_one_decoding_and_one_inversion_path():
    """The app inverts and decodes through the service only: an inversion is asked of the model's
    kind (genlab.kinds, which calls genlab.latent's or the diffusion model's `invert`) by the service
    alone (and by library code that measures, e.g. metrics), never by a tab; no tab calls a model's
    own decode."""
    assert re.search(r"self\._kind\.invert\(", (REPO_ROOT / "genlab" / "service.py").read_text())
    assert re.search(r"(?<![\w.])invert\(", (REPO_ROOT / "genlab" / "kinds" / "gan.py").read_text())
    for path in UI.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"(?<![\w.])invert\(", text), path
        assert ".model.decode" not in text and "latent.decode" not in text, path


# --------------------------------------------------------------------------- the service


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> ModelStore:
    return ModelStore.load(make_tiny_checkpoints(tmp_path_factory.mktemp("service-checkpoints")))


def _service(store: ModelStore, kind: str) -> ModelService:
    return next(s for s in store.services.values() if s.kind == kind)


def test_every_model_has_a_service_with_its_datasets_classifier(store):
    assert sorted(store.services) == sorted(store.models)
    for service in store.services.values():
        if service.kind != "classifier":
            assert service.classifier is not None and service.classifier.kind == "classifier"
            assert service.classifier.dataset == service.dataset
    chosen = store.chosen("mnist")
    assert chosen["vae"].kind == "vae" and chosen["gan"].kind == "gan"


def test_decode_is_seeded_clamped_and_on_cpu(store):
    for kind in ("vae", "gan"):
        service = _service(store, kind)
        z = service.sample_latents(3, seed=7)
        assert torch.equal(z, service.sample_latents(3, seed=7))
        images = service.decode(z)
        assert images.shape == (3, *service.image_shape) and images.device.type == "cpu"
        assert torch.isfinite(service.decode(torch.full((1, service.latent_dim), 1e30))).all()


def test_to_latents_encodes_a_vae_and_caches_a_gans_inversion(store):
    vae, gan = _service(store, "vae"), _service(store, "gan")
    images = vae.sample(2, seed=1)
    encoded = vae.to_latents(images)
    assert encoded.latents.shape == (2, vae.latent_dim) and encoded.seconds is None
    first = gan.to_latents(images, steps=5)
    assert first.seconds is not None and len(first.errors) == 2
    again = gan.to_latents(images, steps=5)
    assert again.seconds is None and torch.equal(again.latents, first.latents)  # found in the cache
    assert gan.to_latents(images[:1], steps=6).seconds is not None  # other settings: searched again


def test_the_inversion_cache_is_bounded(store, monkeypatch):
    import genlab.service as service_module

    gan = _service(store, "gan")
    monkeypatch.setattr(service_module, "MAX_CACHED_INVERSIONS", 3)
    gan.to_latents(torch.rand(5, *gan.image_shape), steps=1)
    assert gan.cached_inversions() == 3
    assert MAX_CACHED_INVERSIONS >= 100  # the real bound keeps a class's worth of images


def test_a_vae_explains_an_encoding_with_the_models_own_terms(store):
    vae = _service(store, "vae")
    image = vae.sample(1, seed=0)[0]
    eps = torch.zeros(vae.latent_dim)
    ex = vae.explain(image, eps)
    assert torch.allclose(ex.z, ex.mu)  # eps = 0: z is the mean
    assert ex.reconstruction > 0 and ex.kl == pytest.approx(float(ex.kl_per_dim.sum()))
    with pytest.raises(ServiceError, match="needs a VAE"):
        _service(store, "gan").explain(image, eps)


def test_artefacts_round_trip_and_are_ignored_for_other_weights(store, tmp_path):
    gan = _service(store, "gan")
    path = gan.write_artefacts()
    assert path.name == ARTEFACTS_NAME and path.is_file()
    fresh = ModelStore.load(gan.path.parent).service(gan.name)
    stored = fresh.stored_artefacts()
    assert "ganspace.directions" in stored and "bank.latents" in stored
    directions, _ = fresh.ganspace()
    assert torch.equal(directions, gan.ganspace()[0])
    assert torch.equal(fresh.attribute_bank().latents, gan.attribute_bank().latents)
    # weights that changed after the artefacts were written: the file is not used
    fresh._computed["digest"] = "0" * 64
    fresh._artefacts = None
    assert fresh.stored_artefacts() == {}
    path.unlink()


def test_the_shipped_checkpoints_ship_their_artefacts():
    """Every shipped VAE and GAN has artefacts computed from its current weights (a cold start
    recomputes nothing); `python train/precompute.py` writes them."""
    store = ModelStore.load(REPO_ROOT / "checkpoints")
    stale = [name for name in store.names(("vae", "gan")) if not store.service(name).stored_artefacts()]
    assert stale == [], f"run `python train/precompute.py {' '.join(stale)}`"


def test_inversion_defaults_live_in_one_place():
    texts = {p: p.read_text() for p in UI.glob("*.py")}
    for path, text in texts.items():
        assert not re.search(r"^\s*(INVERSION_STEPS|INVERSION_RESTARTS|ACTIVE_KL|INACTIVE_KL)\s*=", text, re.M), path
    assert INVERSION_STEPS == 200


def test_every_api_endpoint_has_named_parameters(store):
    """"Use via API" shows parameter names a caller can read: no param_0, no one-letter names."""
    from genlab.ui.app import build_app

    info = build_app(store).get_api_info()
    assert len(info["named_endpoints"]) >= 25
    unnamed = {name: [p["parameter_name"] for p in endpoint["parameters"]]
               for name, endpoint in info["named_endpoints"].items()
               if any(re.fullmatch(r"param_\d+|\w", p["parameter_name"] or "") for p in endpoint["parameters"])}
    assert unnamed == {}


def test_a_gan_that_reads_its_class_from_z_serves_every_tab_like_an_unconditional_one(tmp_path):
    from genlab.checkpoints import save_checkpoint
    from genlab.models import GAN, GANConfig
    from genlab.ui.sliders import panel_spec

    root = make_tiny_checkpoints(tmp_path)
    torch.manual_seed(0)  # replace the unconditional GAN with one that reads its class from z
    gan = GAN(GANConfig(latent_dim=16, generator_width=8, discriminator_width=8, num_classes=10,
                        classes_from_latent=True))
    save_checkpoint(gan.eval(), root / "mnist-gan-16", "gan", dataset="mnist", class_names=[str(k) for k in range(10)])
    store = ModelStore.load(root)
    service = store.chosen("mnist")["gan"]
    assert service.name == "mnist-gan-16" and not service.conditional and service.latent_classes == 10
    assert service.sample(4, seed=0).shape == (4, 1, 28, 28)  # no labels needed
    assert service.web_export()["layers"][0] == {"type": "latent_class", "classes": 10}
    result = service.to_latents(service.sample(2, seed=1), steps=3)
    assert result.latents.shape == (2, 16)
    spec = panel_spec(service, service.sample_latents(1, 0), "a sample")
    assert "picks the class" in spec["dims_title"]
    assert spec["dims"][3]["note"].endswith("draws 3") and spec["dims"][12]["note"] == ""
