"""genlab.api: the Python API (load, sample, encode/invert, decode, interpolate, edit, inpaint) on tiny
untrained checkpoints, checked against the service and the app's tabs it must share its code with;
one test on the shipped mnist-vae-16, and the README's example run exactly as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genlab
from app_server import GAN_NAME, VAE_NAME, add_tiny_diffusion, make_tiny_checkpoints
from conftest import REPO_ROOT
from genlab import api
from genlab.checkpoints import load_checkpoint, save_checkpoint
from genlab.inpainting import Inpainting
from genlab.latent import encode as latent_encode
from genlab.latent import slerp
from genlab.models import GAN, GANConfig
from genlab.service import LatentResult

STEPS = 10  # GAN inversion steps in these tests (the default, 200, is for real use)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = make_tiny_checkpoints(tmp_path_factory.mktemp("api-checkpoints"))
    torch.manual_seed(1)  # a class-conditional GAN and a diffusion model beside them
    save_checkpoint(GAN(GANConfig(latent_dim=16, generator_width=8, discriminator_width=8, num_classes=10)).eval(),
                    root / "mnist-cgan-16", "gan", dataset="mnist")
    add_tiny_diffusion(root)  # mnist-diffusion-tiny and mnist-vae-16-latent-diffusion-tiny
    return root


@pytest.fixture(scope="module")
def vae(tiny_root) -> api.Model:
    return genlab.load(VAE_NAME, checkpoints=tiny_root)


@pytest.fixture(scope="module")
def gan(tiny_root) -> api.Model:
    return genlab.load(GAN_NAME, checkpoints=tiny_root)


# ----------------------------------------------------------------------------- loading


def test_list_models_names_every_kind_and_filters(tiny_root):
    names = genlab.list_models(tiny_root)
    assert names == sorted([VAE_NAME, GAN_NAME, "mnist-classifier", "mnist-cgan-16", "mnist-diffusion-tiny",
                            "mnist-vae-16-latent-diffusion-tiny"])
    assert genlab.list_models(tiny_root, kind="vae") == [VAE_NAME]
    assert genlab.list_models(tiny_root, kind="diffusion") == ["mnist-diffusion-tiny"]
    assert genlab.list_models(tiny_root, dataset="fashion-mnist") == []


def test_load_by_name_by_folder_and_shared_services(tiny_root, vae):
    assert isinstance(vae, genlab.Model)
    assert (vae.name, vae.kind, vae.dataset, vae.latent_dim, vae.image_shape) == (VAE_NAME, "vae", "mnist", 16,
                                                                                    (1, 28, 28))
    assert vae.describe() == "mnist · VAE · 16-d latent · mnist-vae-16" and vae.describe() in repr(vae)
    assert genlab.load(VAE_NAME, checkpoints=tiny_root).service is vae.service  # one store per folder
    by_path = genlab.load(tiny_root / VAE_NAME)
    assert by_path.service is vae.service and by_path.service.classifier is not None  # the classifier beside it
    assert genlab.load(str(tiny_root / GAN_NAME)).kind == "gan"
    assert vae.class_names == [str(k) for k in range(10)] and vae.device == torch.device("cpu")


def test_load_errors_are_one_sentence(tiny_root, tmp_path):
    with pytest.raises(KeyError, match=r"no model called 'mnist-vae-61'.*Did you mean 'mnist-vae-16'") as e:
        genlab.load("mnist-vae-61", checkpoints=tiny_root)
    assert isinstance(e.value, genlab.UnknownModelError) and str(e.value).startswith("There is no model")
    with pytest.raises(ValueError, match="does not exist"):
        genlab.load(VAE_NAME, checkpoints=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="holds no config.json"):
        genlab.load(tiny_root)  # a folder of checkpoints, not one
    with pytest.raises(ValueError, match="a torch device"):
        genlab.load(VAE_NAME, device="toaster", checkpoints=tiny_root)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            genlab.load(VAE_NAME, device="cuda", checkpoints=tiny_root)
    with pytest.raises(ValueError, match="Name a Hub repo"):
        genlab.load("hub:", checkpoints=tiny_root)


def test_a_broken_checkpoint_says_why(tiny_root, tmp_path):
    root = make_tiny_checkpoints(tmp_path / "broken")
    (root / VAE_NAME / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ValueError, match=f"{VAE_NAME}.*not a readable safetensors"):
        genlab.load(VAE_NAME, checkpoints=root)
    assert VAE_NAME not in genlab.list_models(root)  # and the others still load
    assert genlab.load(GAN_NAME, checkpoints=root).kind == "gan"


def test_hub_models_load_next_to_the_folder(tiny_root, monkeypatch):
    import genlab.hub
    from genlab.checkpoints import CheckpointError

    def fake_load_from_hub(repo_id, revision=None, cache_dir=None, device="cpu", token=None):
        if repo_id != "someone/tiny-vae":
            raise CheckpointError(f"There is no model repo {repo_id} on the Hugging Face Hub.")
        ckpt = load_checkpoint(tiny_root / VAE_NAME, device)
        ckpt.name = repo_id
        return ckpt

    monkeypatch.setattr(genlab.hub, "load_from_hub", fake_load_from_hub)
    model = genlab.load("hub:someone/tiny-vae", checkpoints=tiny_root)
    assert model.name == "someone/tiny-vae" and model.kind == "vae"
    assert model.verdicts(model.sample(2, seed=0)) is not None  # the local mnist classifier is wired in
    with pytest.raises(ValueError, match="no model repo someone/missing"):
        genlab.load("hub:someone/missing", checkpoints=tiny_root)


# ----------------------------------------------------------------------------- sampling and decoding


def test_sample_shapes_range_and_determinism(vae, gan):
    for model in (vae, gan):
        x = model.sample(6, seed=3)
        assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and x.device.type == "cpu"
        assert 0 <= float(x.min()) and float(x.max()) <= 1
        assert torch.equal(x, model.sample(6, seed=3))
        assert not torch.equal(x, model.sample(6, seed=4))
        assert torch.equal(x, model.service.sample(6, 3))  # the service's (the app's) samples
        g = torch.Generator().manual_seed(3)
        assert torch.equal(model.sample(6, generator=g), x)  # a generator seeded s gives what seed=s gives
        assert not torch.equal(model.sample(6, generator=g), x)  # ... and moves on
        assert torch.equal(model.sample(6, torch.Generator().manual_seed(3)), x)  # passed as the seed
    torch.manual_seed(7)
    a = vae.sample(4)
    torch.manual_seed(7)
    assert torch.equal(a, vae.sample(4))  # no seed: torch's global generator decides
    cold = vae.sample_latents(500, seed=0, temperature=0.5)
    assert cold.shape == (500, 16) and 0.4 < float(cold.std()) < 0.6
    warm = vae.sample_latents(3, seed=1, temperature=0.5)
    assert torch.equal(vae.sample(3, seed=1, temperature=0.5), vae.decode(warm))


def test_sample_matches_the_sample_tab(tiny_root, vae):
    from genlab.ui.sample import sample_grid
    from genlab.ui.shell import Shell

    shell = Shell(store=vae._store)
    tab = sample_grid(shell, VAE_NAME, 5, 8, 0.8)
    assert np.array_equal(np.asarray(tab), np.asarray(genlab.to_pil(vae.sample(8, seed=5, temperature=0.8))))


def test_sample_images_and_to_pil(vae):
    pictures = vae.sample_images(3, seed=0)
    assert len(pictures) == 3 and all(isinstance(p, Image.Image) and p.size == (28, 28) for p in pictures)
    assert vae.sample_images(1, seed=0, size=112)[0].size == (112, 112)
    x = vae.sample(3, seed=0)
    assert np.array_equal(np.asarray(pictures[0]), (x[0, 0] * 255).round().to(torch.uint8).numpy())
    assert genlab.to_pil(x).size == (3 * 86 + 2, 88)  # the app's grid: 84-pixel cells, 2 pixels apart
    assert genlab.to_pil(x, ncol=1).size == (88, 3 * 86 + 2)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(B, C, H, W\)"):
        genlab.to_pil(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="takes a tensor"):
        genlab.to_pil(pictures[0])


def test_sample_and_decode_errors(vae):
    for bad in (0, -1, 2.5, True, 5000):
        with pytest.raises(ValueError, match="count must be"):
            vae.sample(bad)
    with pytest.raises(ValueError, match="seed must be"):
        vae.sample(2, seed=-1)
    with pytest.raises(ValueError, match="seed or a generator, not both"):
        vae.sample(2, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="temperature"):
        vae.sample(2, seed=0, temperature=0)
    with pytest.raises(ValueError, match="16-d latent"):
        vae.decode(torch.zeros(2, 8))
    with pytest.raises(ValueError, match="NaN"):
        vae.decode(torch.full((16,), float("nan")))
    with pytest.raises(ValueError, match="takes no labels"):
        vae.decode(torch.zeros(1, 16), labels=[0])
    z = vae.sample_latents(2, seed=0)
    assert torch.allclose(vae.decode(z[0]), vae.decode(z)[:1], atol=1e-6)  # (D,) is one latent


# ----------------------------------------------------------------------------- encoding and inversion


def test_vae_encode_is_the_encoders_mean(vae):
    x = vae.sample(4, seed=0)
    z = vae.encode(x)
    assert z.shape == (4, 16)
    assert torch.equal(z, latent_encode(vae.checkpoint.model, x))
    assert torch.allclose(vae.encode(x[0]), z[:1], atol=1e-6)  # one image (C, H, W)
    result = vae.reconstruct(x)
    assert isinstance(result, LatentResult) and result.reconstructions.shape == (4, 1, 28, 28)
    assert len(result.errors) == 4 and "encodes" in result.how
    as_bytes = (x * 255).round().to(torch.uint8)
    assert torch.allclose(vae.encode(as_bytes), vae.encode(as_bytes.float() / 255))  # uint8 is divided by 255


def test_pictures_are_prepared_like_uploads(vae):
    from genlab.preprocess import prepare_image

    picture = Image.new("L", (60, 40), 255)  # a dark stroke on white, as drawn
    picture.paste(0, (20, 5, 30, 35))
    prepared = prepare_image(picture, image_size=28, channels=1, style="mnist")
    assert torch.equal(vae.prepare(picture), prepared)
    assert torch.equal(vae.images(picture), prepared[None])
    assert torch.equal(vae.images(np.asarray(picture)), prepared[None])
    assert torch.equal(vae.images([picture, prepared]), torch.stack([prepared, prepared]))
    assert torch.equal(vae.encode(picture), vae.encode(prepared))
    assert torch.equal(vae.images(prepared.numpy()), prepared[None])  # a model-shaped array is not re-prepared


def test_wrong_images_are_refused(vae):
    with pytest.raises(ValueError, match=r"takes images of shape \(1, 28, 28\).*got \(3, 32, 32\)"):
        vae.encode(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        vae.encode(torch.rand(2, 1, 28, 28) * 2 - 1)
    with pytest.raises(ValueError, match="NaN"):
        vae.encode(torch.full((1, 28, 28), float("nan")))
    with pytest.raises(ValueError, match="empty"):
        vae.encode([])
    with pytest.raises(ValueError):  # a blank picture: nothing drawn (prepare_image's sentence)
        vae.encode(Image.new("L", (28, 28), 255))


def test_gan_inversion_is_cached_and_checked(gan):
    x = gan.sample(2, seed=1)
    result = gan.reconstruct(x, steps=STEPS)
    assert result.latents.shape == (2, 16) and "inverted" in result.how
    again = gan.invert(x, steps=STEPS)  # invert is encode; the second time comes from the cache
    assert torch.equal(again, result.latents) and gan.service.cached_inversions() >= 2
    for bad in (5, 0, 10_000, 2.5):
        with pytest.raises(ValueError, match="Inversion steps must be"):
            gan.encode(x, steps=bad)


def test_a_conditional_gan_samples_but_is_not_inverted(tiny_root):
    cgan = genlab.load("mnist-cgan-16", checkpoints=tiny_root)
    assert cgan.conditional
    x = cgan.sample(4, seed=0)
    z = cgan.sample_latents(4, seed=0)
    assert torch.equal(x, cgan.decode(z, labels=[0, 1, 2, 3]))  # classes in turn, as the app samples
    assert torch.equal(cgan.sample(4, generator=torch.Generator().manual_seed(0)), x)
    with pytest.raises(ValueError, match="class-conditional GAN: pass labels"):
        cgan.decode(z)
    with pytest.raises(ValueError, match="labels must hold"):
        cgan.decode(z, labels=[0, 1, 2, 10])
    for call in (lambda: cgan.encode(x), lambda: cgan.interpolate(x[0], x[1]), lambda: cgan.attributes(),
                 lambda: cgan.inpaint(x[0])):
        with pytest.raises(ValueError, match="class-conditional"):
            call()


def test_a_diffusion_model_samples_inverts_interpolates_and_inpaints(tiny_root):
    from genlab.models import diffusion as D

    model = genlab.load("mnist-diffusion-tiny", checkpoints=tiny_root)
    assert model.kind == "diffusion" and "mnist-diffusion-tiny" in model.describe() and "784-d noise" in model.describe()
    assert model.latent_dim == 784 and model.service.sample_steps == 3
    x = model.sample(2, seed=0)
    assert x.shape == (2, 1, 28, 28) and torch.equal(x, model.sample(2, seed=0))
    same = D.sample(model.checkpoint.model, 2, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, same, atol=1e-6)  # the model's own sampler, seed for seed
    assert not torch.equal(model.sample(2, seed=0, steps=2), x)  # the step count is the sampler's
    assert torch.equal(model.sample(2, generator=torch.Generator().manual_seed(0)), x)
    noise = model.encode(x)
    assert noise.shape == (2, 784) and torch.equal(noise, model.encode(x))  # deterministic: the ODE backwards
    assert (model.decode(noise) - x).abs().mean() < 0.05  # and forwards again: the same pictures, nearly
    path = model.interpolate(x[0], x[1], steps=4)
    assert path.shape == (4, 1, 28, 28)
    result = model.inpaint(x[0], mask="bottom half", fills=2, seed=0)
    assert result.completed.shape == (2, 1, 28, 28)
    assert torch.equal(result.completed[:, :, :14], x[:1, :, :14].expand(2, -1, -1, -1))  # the visible half kept
    with pytest.raises(ValueError, match="mnist-diffusion-tiny is a diffusion model: its 784-d noise has no attribute"):
        model.attributes()
    with pytest.raises(ValueError, match="steps must be a whole number"):
        model.sample(1, seed=0, steps=0)


def test_a_latent_diffusion_prior_works_in_its_vaes_latent(tiny_root, vae):
    prior = genlab.load("mnist-vae-16-latent-diffusion-tiny", checkpoints=tiny_root)
    assert prior.latent_dim == 16 and prior.service.sliders and prior.service.editable
    x = prior.sample(3, seed=0)
    assert x.shape == (3, 1, 28, 28) and torch.equal(x, prior.sample(3, seed=0))
    z = prior.sample_latents(3, seed=0)
    assert torch.equal(prior.decode(z), x) and torch.equal(vae.decode(z), x)  # codes of its VAE
    assert torch.equal(prior.encode(x), vae.encode(x))  # the VAE's encoder
    path = prior.interpolate_latents(z[0], z[1], steps=5)
    assert path.shape == (5, 16)  # the ends: up the ODE and down again (3 Heun steps), nearly where they were
    assert torch.allclose(path[0], z[0], atol=0.01) and torch.allclose(path[-1], z[1], atol=0.01)
    assert "thickness" in prior.attributes()
    assert prior.edit(x[0], "thickness", strengths=[-1, 1]).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="one network pass, so it takes no steps"):
        vae.sample(1, seed=0, steps=3)


# ----------------------------------------------------------------------------- interpolation


def test_interpolate_images_and_latents(vae, gan):
    x = vae.sample(2, seed=0)
    path = vae.interpolate(x[0], x[1], steps=8, mode="spherical")
    assert path.shape == (8, 1, 28, 28)
    z = vae.encode(x)
    latents = vae.interpolate_latents(x[0], x[1], steps=8)
    assert latents.shape == (8, 16)
    assert torch.equal(latents[0], z[0]) and torch.equal(latents[-1], z[1])
    assert torch.allclose(latents[3], slerp(z[0], z[1], 3 / 7))
    assert torch.equal(vae.interpolate(z[0], z[1], steps=8), path)  # latents (D,) as the ends
    linear = vae.interpolate_latents(z[0], z[1], steps=3, mode="linear")
    assert torch.allclose(linear[1], (z[0] + z[1]) / 2)
    g = gan.interpolate(gan.sample(1, seed=0)[0], gan.sample_latents(1, seed=1)[0], steps=4,
                        inversion_steps=STEPS)  # an image (inverted) to a latent
    assert g.shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="mode must be one of linear, spherical"):
        vae.interpolate(x[0], x[1], mode="cubic")
    with pytest.raises(ValueError, match="steps must be a whole number from 2"):
        vae.interpolate(x[0], x[1], steps=1)
    with pytest.raises(ValueError, match="one image"):
        vae.interpolate(x, x[1])


def test_interpolate_matches_the_interpolate_tab(vae):
    from genlab.ui.interpolate import interpolate_model
    from genlab.ui.shell import Shell

    shell = Shell(store=vae._store)
    random = ["Random sample", None, None, 0]
    _, _, frames = interpolate_model(shell, vae.service, [*random, 0], [*random, 1], 6, "spherical", 200)
    ours = vae.interpolate(vae.sample_latents(1, seed=0)[0], vae.sample_latents(1, seed=1)[0], steps=6)
    assert torch.equal(frames, ours)
    test = ["Test image", None, None]
    _, _, frames = interpolate_model(shell, vae.service, [*test, 3, 0], [*test, 5, 0], 6, "linear", 200)
    data = vae.test_images()
    assert torch.equal(frames, vae.interpolate(data.images[3], data.images[5], steps=6, mode="linear"))


# ----------------------------------------------------------------------------- attributes


def test_attributes_and_edits(vae, gan):
    names = vae.attributes()
    assert names[:6] == ["ink", "thickness", "slant", "width", "height", "brightness"]
    assert "class:7" in names and all(n.startswith("class:") for n in names[6:])
    assert vae.attribute_ends("thickness") == ("thinner", "bolder")
    assert vae.attribute_ends("class:3->8") == ("more like 3", "more like 8")
    x = vae.sample(1, seed=0)[0]
    strip = vae.edit(x, "thickness", strengths=[-2, 0, 2])
    assert strip.shape == (3, 1, 28, 28)
    z = vae.encode(x)[0]
    d = vae.direction("thickness")
    assert d.shape == (16,) and abs(float(d.norm()) - 1) < 1e-5
    assert torch.allclose(strip[1], vae.decode(z)[0], atol=1e-6)  # strength 0: the image's own decoding
    assert torch.allclose(strip[2], vae.decode(z + 2 * d)[0], atol=1e-6)
    assert vae.edit(z, "class:7", 1.5).shape == (1, 1, 28, 28)  # a latent, one strength
    kept = vae.direction("thickness", conditional=True)
    assert abs(float(kept.norm()) - 1) < 1e-5 and not torch.allclose(kept, d)
    assert torch.equal(vae.direction("class:7", conditional=True), vae.direction("class:7"))  # as the app: ignored
    boundary = vae.direction("slant", method="linear-boundary")
    assert boundary.shape == (16,)
    assert "thickness" in gan.attributes()  # (an untrained GAN draws grey fog: no pixel attribute varies)
    assert gan.edit(gan.sample_latents(1, seed=0)[0], torch.ones(16), [-1, 1]).shape == (2, 1, 28, 28)


def test_your_own_attribute(vae):
    data = vae.test_images()
    ones, zeros = data.images[data.labels == 1][:4], data.images[data.labels == 0][:4]
    d = vae.direction_from_examples(ones, zeros)
    assert d.shape == (16,) and abs(float(d.norm()) - 1) < 1e-5
    z1, z0 = vae.encode(ones).mean(0), vae.encode(zeros).mean(0)
    assert float(d @ (z1 - z0)) > 0  # it points from the examples without it to those with it
    assert float(vae.direction(d * 3).sub(d).abs().max()) < 1e-6  # your direction, made a unit vector
    assert vae.edit(zeros[0], d, [0, 1]).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match="at least 2 examples"):
        vae.direction_from_examples(ones[:1], zeros)


def test_edit_matches_the_edit_tab(vae):
    from genlab.ui.attributes import edit_attribute
    from genlab.ui.images import to_pil as tab_pil
    from genlab.ui.shell import Shell

    shell = Shell(store=vae._store)
    outputs = edit_attribute(shell, VAE_NAME, "Random sample", None, None, 0, 2, "thickness", "mean-difference",
                             True, 2.5, 5, 200, {})
    z = vae.sample_latents(1, seed=2)[0]
    ours = vae.edit(z, "thickness", [2.5], conditional=True)[0]
    assert np.array_equal(np.asarray(outputs[2]), np.asarray(tab_pil(ours, 224)))


def test_edit_errors(vae):
    x = vae.sample(1, seed=0)[0]
    with pytest.raises(ValueError, match="Cannot edit 'curly' with mnist-vae-16: Unknown direction"):
        vae.edit(x, "curly")
    with pytest.raises(ValueError, match="There is no class 12"):
        vae.edit(x, "class:12")
    with pytest.raises(ValueError, match="method must be one of"):
        vae.edit(x, "thickness", method="vibes")
    with pytest.raises(ValueError, match="strengths"):
        vae.edit(x, "thickness", strengths=[])
    with pytest.raises(ValueError, match="direction is zero"):
        vae.direction(torch.zeros(16))


# ----------------------------------------------------------------------------- inpainting


def test_inpaint_keeps_the_visible_pixels_and_is_seeded(vae, gan):
    x = vae.sample(1, seed=0)[0]
    result = vae.inpaint(x, mask="bottom half", fills=3, steps=20, seed=0)
    assert isinstance(result, Inpainting)
    assert result.completed.shape == (3, 1, 28, 28) and result.latents.shape == (3, 16)
    assert result.hidden_error.shape == (3,) and result.sharpness.shape == (3,)
    assert result.predicted is not None and result.confidence.shape == (3,)  # the classifier's verdicts
    visible = ~result.hidden
    assert int(result.hidden.sum()) == 14 * 28
    assert torch.equal(result.completed[:, :, visible], x[None].expand(3, -1, -1, -1)[:, :, visible])
    again = vae.inpaint(x, mask="bottom half", fills=3, steps=20, seed=0)
    assert torch.equal(again.completed, result.completed)
    assert torch.equal(vae.inpaint(x, "bottom half", 3, 20, generator=torch.Generator().manual_seed(5)).completed,
                       vae.inpaint(x, "bottom half", 3, 20, generator=torch.Generator().manual_seed(5)).completed)
    direct = vae.service.inpaint(x, result.hidden, fills=3, steps=20, seed=0)  # the tab's call
    assert torch.equal(direct.completed, result.completed)
    g = gan.inpaint(gan.sample(1, seed=0)[0], mask="centre box", fills=2, steps=10, seed=1)
    assert g.completed.shape == (2, 1, 28, 28)


def test_masks(vae):
    from genlab.inpainting import preset_mask

    assert torch.equal(vae.mask("left half"), preset_mask("left half", 28, 28))
    hidden = torch.zeros(28, 28, dtype=torch.bool)
    hidden[:5] = True
    assert torch.equal(vae.mask(hidden), hidden)
    assert torch.equal(vae.mask(hidden.numpy()), hidden)
    painted = Image.new("L", (112, 112), 0)
    painted.paste(255, (0, 0, 112, 20))  # the top 5 rows at 4x
    assert torch.equal(vae.mask(painted), hidden)
    with pytest.raises(ValueError, match="Cannot use that mask: The mask preset must be one of"):
        vae.mask("the left ear")
    with pytest.raises(ValueError, match="Everything is hidden"):
        vae.mask(torch.ones(28, 28))
    with pytest.raises(ValueError, match="Nothing is hidden"):
        vae.inpaint(vae.sample(1, seed=0)[0], mask=torch.zeros(28, 28))
    with pytest.raises(ValueError, match="fills must be"):
        vae.inpaint(vae.sample(1, seed=0)[0], fills=0)


# ----------------------------------------------------------------------------- the classifier


def test_verdicts_and_classify(tiny_root, vae):
    x = vae.sample(3, seed=0)
    said = vae.verdicts(x)
    assert len(said) == 3 and all(name in vae.class_names and 0 <= p <= 1 for name, p in said)
    probs = vae.classify(x)
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(1), torch.ones(3))
    classifier = genlab.load("mnist-classifier", checkpoints=tiny_root)
    assert torch.equal(classifier.classify(x), probs)
    assert classifier.verdicts(x) == said
    with pytest.raises(ValueError, match="needs a model of images"):
        classifier.sample(2)


# ----------------------------------------------------------------------------- shipped


@pytest.mark.shipped
def test_the_shipped_mnist_vae():
    vae = genlab.load("mnist-vae-16")
    assert vae.describe() == "mnist · VAE · 16-d latent · mnist-vae-16"
    assert "mnist-vae-16" in genlab.list_models(kind="vae")
    data = vae.test_images()
    images = data.images[:8]
    result = vae.reconstruct(images)
    assert max(result.errors) < 0.05  # a trained VAE redraws test digits closely
    assert [name for name, _ in vae.verdicts(result.reconstructions)] == [str(int(k)) for k in data.labels[:8]]
    assert torch.equal(vae.sample(4, seed=0), vae.sample(4, seed=0))
    seven = images[data.labels[:8] == 7][0] if (data.labels[:8] == 7).any() else images[0]
    assert vae.edit(seven, "thickness", [-2, 0, 2]).shape == (3, 1, 28, 28)


def _readme_example() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = re.search(r"^## Use Genlab from Python\n(.*?)^## ", text, re.S | re.M)
    assert section, "README.md has no '## Use Genlab from Python' section before the next one"
    blocks = re.findall(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)
    assert len(blocks) == 1, "the section holds one ```python block"
    return blocks[0]


@pytest.mark.shipped
def test_the_readme_example_runs_as_written(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    code = _readme_example()
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(code, "README.md (Use Genlab from Python)", "exec"), namespace)
    assert isinstance(namespace.get("vae"), genlab.Model)
    assert os.getcwd() == str(REPO_ROOT)
