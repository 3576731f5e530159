"""genlab.attributes: pixel measurements with known answers, and attribute banks on tiny models."""

from __future__ import annotations

import pytest
import torch

from genlab.attributes import PIXEL_ATTRIBUTES, AttributeBank, build_bank, measure
from genlab.data import synthetic_dataset
from genlab.models import GAN, VAE, Classifier, ClassifierConfig, GANConfig, VAEConfig


def bar(top: int, bottom: int, left: int, right: int, size: int = 28) -> torch.Tensor:
    """One image (1, size, size) with a white rectangle of rows [top, bottom) and columns [left, right)."""
    x = torch.zeros(1, size, size)
    x[:, top:bottom, left:right] = 1.0
    return x


def slanted_stroke(shift_per_row: float, size: int = 28) -> torch.Tensor:
    """A 2-pixel-wide stroke whose column moves by `shift_per_row` going up the image."""
    x = torch.zeros(1, size, size)
    for r in range(4, 24):
        c = round(14 + shift_per_row * (14 - r))
        x[0, r, c:c + 2] = 1.0
    return x


# --------------------------------------------------------------------------- measure


def test_measure_known_answers_on_rectangles():
    thin, thick = bar(4, 24, 13, 15), bar(4, 24, 11, 17)  # 20 rows tall, 2 and 6 columns wide
    m = measure(torch.stack([thin, thick]))
    assert set(PIXEL_ATTRIBUTES) <= set(m)
    assert all(v.shape == (2,) for v in m.values())
    assert m["ink"].tolist() == [40.0, 120.0]
    # area / half-perimeter: 40 / 22 and 120 / 26, i.e. roughly the stroke widths
    assert m["thickness"][0] == pytest.approx(40 / 22)
    assert m["thickness"][1] == pytest.approx(120 / 26)
    assert m["thickness"][1] > 2 * m["thickness"][0]
    # 2 * standard deviation of a uniform run of n pixels is 2 * sqrt((n^2 - 1) / 12)
    assert m["height"][0] == pytest.approx(2 * ((20**2 - 1) / 12) ** 0.5, rel=1e-5)
    assert m["width"][1] == pytest.approx(2 * ((6**2 - 1) / 12) ** 0.5, rel=1e-5)
    assert m["slant"].abs().max() < 1e-6  # upright
    assert m["brightness"].tolist() == [1.0, 1.0]


def test_slant_sign_positive_means_leaning_right():
    m = measure(torch.stack([slanted_stroke(0.5), slanted_stroke(0.0), slanted_stroke(-0.5)]))
    assert m["slant"][0] > 0.3
    assert abs(float(m["slant"][1])) < 1e-6
    assert m["slant"][2] < -0.3
    assert m["slant"][0] == pytest.approx(0.5, abs=0.1)  # the shear it was drawn with


def test_brightness_and_rgb_and_empty_images():
    dim = 0.4 * bar(4, 24, 11, 17)
    m = measure(torch.stack([dim, torch.zeros(1, 28, 28)]))
    assert m["brightness"][0] == pytest.approx(0.4)
    assert m["thickness"][0] == 0  # nothing above the 0.5 mask threshold
    for v in m.values():
        assert torch.isfinite(v).all() and v[1] == 0
    rgb = bar(4, 24, 11, 17).expand(3, -1, -1)[None]
    assert measure(rgb)["ink"][0] == pytest.approx(120.0, rel=1e-5)
    with pytest.raises(ValueError):
        measure(torch.zeros(2, 28, 28))


def test_measure_ranks_real_strokes_by_thickness():
    data = synthetic_dataset(16, seed=0)
    thin = data.images
    thick = torch.nn.functional.max_pool2d(thin, 3, stride=1, padding=1)  # dilate by one pixel
    t0, t1 = measure(thin)["thickness"], measure(thick)["thickness"]
    assert (t1 > t0).float().mean() == 1.0


# --------------------------------------------------------------------------- banks


def tiny_models(seed: int = 0):
    torch.manual_seed(seed)
    vae = VAE(VAEConfig(latent_dim=6, base_width=4, hidden_dim=16)).eval().requires_grad_(False)
    gan = GAN(GANConfig(latent_dim=6, generator_width=8, discriminator_width=8)).eval().requires_grad_(False)
    gan.generator.blocks[-1].weight.data.mul_(16.0)  # images with contrast, see tests/test_latent.py
    clf = Classifier(ClassifierConfig(num_classes=4, width=4, feature_dim=8)).eval().requires_grad_(False)
    return vae, gan, clf


def test_vae_bank_has_true_labels_pixel_scores_and_class_directions():
    vae, _, clf = tiny_models()
    data = synthetic_dataset(200, num_classes=4, seed=1)
    bank = build_bank(vae, "vae", data, classifier=clf, num_samples=120, seed=0)
    assert bank.latents.shape == (120, 6)
    assert bank.probabilities.shape == (120, 4)
    assert torch.allclose(bank.probabilities.sum(1), torch.ones(120), atol=1e-5)
    assert set(bank.labels.tolist()) == {0, 1, 2, 3}
    assert bank.class_names == data.class_names
    assert set(PIXEL_ATTRIBUTES) <= set(bank.scores)
    names = bank.names()
    assert "class:0" in names and "thickness" in names
    for name in ("class:2", "class:0->3", "thickness", "slant"):
        d = bank.direction(name)
        assert d.shape == (6,) and float(d.norm()) == pytest.approx(1.0, abs=1e-5)
    assert bank.direction("class:2") is bank.direction("class:2")  # cached
    d = bank.direction("thickness", method="linear-boundary")
    assert float(d.norm()) == pytest.approx(1.0, abs=1e-5)
    assert bank.ends("thickness") == ("thinner", "bolder")
    assert bank.ends("class:0->3") == ("more like bar 0", "more like bar 3")
    # The same seed picks the same images.
    again = build_bank(vae, "vae", data, num_samples=120, seed=0)
    assert torch.equal(again.latents, bank.latents)


def test_conditional_direction_is_orthogonal_to_the_class_subspace():
    vae, _, _ = tiny_models()
    data = synthetic_dataset(200, num_classes=4, seed=1)
    bank = build_bank(vae, "vae", data, num_samples=200)
    subspace = bank.class_subspace()
    assert 1 <= subspace.shape[0] <= 3
    for method in ("mean-difference", "linear-boundary"):
        d = bank.direction("ink", method=method, conditional=True)
        assert float(d.norm()) == pytest.approx(1.0, abs=1e-5)
        assert (subspace @ d).abs().max() < 1e-5
    with pytest.raises(ValueError):
        bank.direction("class:1", conditional=True)


def test_gan_bank_labels_come_from_the_classifier():
    _, gan, clf = tiny_models()
    bank = build_bank(gan, "gan", None, classifier=clf, num_samples=64, seed=3)
    assert bank.latents.shape == (64, 6) and bank.kind == "gan"
    assert torch.equal(bank.labels, bank.probabilities.argmax(1))
    # Pixel scores are measured on the images these latents make.
    with torch.no_grad():
        images = gan.decode(bank.latents)
    assert torch.allclose(bank.scores["ink"], measure(images)["ink"], rtol=1e-5)
    # Without a classifier: pixel attributes only, with a clear error for class directions.
    plain = build_bank(gan, "gan", None, num_samples=64, seed=3)
    assert plain.labels is None and plain.names() == list(PIXEL_ATTRIBUTES)
    assert plain.direction("width").shape == (6,)
    with pytest.raises(ValueError, match="classifier"):
        plain.direction("class:1")
    with pytest.raises(ValueError, match="classifier"):
        plain.direction("ink", conditional=True)


def test_bank_errors_are_clear():
    vae, gan, _ = tiny_models()
    with pytest.raises(ValueError, match="dataset"):
        build_bank(vae, "vae", None)
    with pytest.raises(ValueError):
        build_bank(vae, "autoencoder", None)
    bank = AttributeBank(torch.randn(20, 3), torch.arange(20) % 2, None, {"ink": torch.rand(20)})
    with pytest.raises(ValueError, match="Unknown direction"):
        bank.direction("roundness")
    with pytest.raises(ValueError, match="no class 7"):
        bank.direction("class:7")
    with pytest.raises(ValueError):
        bank.direction("class:a->b")
