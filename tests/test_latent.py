"""Known-answer tests for genlab.latent: interpolation, PCA, attribute directions, inversion, GANSpace."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genlab.latent import (
    InversionResult, attribute_direction, class_direction, edit_strip, encode, gan_space_directions,
    interpolate, invert, kl_order, lerp, principal_directions, project_out, sample_latents, slerp,
)
from genlab.models import GAN, VAE, GANConfig, VAEConfig


def tiny_gan(latent_dim: int = 8, num_classes: int = 0, seed: int = 0, contrast: float = 1.0) -> GAN:
    """A small randomly initialised GAN (fixed seed); `contrast` scales the last layer's weights.

    At initialisation the images are nearly uniform grey (pixel variance ~3e-4); contrast=16 spreads
    them to a variance of ~0.05, like real digits, so that the pixels tell latents apart. The plain
    layout (refine_convs=0) is the one these numbers were measured on.
    """
    torch.manual_seed(seed)
    gan = GAN(GANConfig(latent_dim=latent_dim, generator_width=8, discriminator_width=8, num_classes=num_classes,
                        refine_convs=0))
    gan.generator.blocks[-1].weight.data.mul_(contrast)
    return gan.eval().requires_grad_(False)


# --------------------------------------------------------------------------- interpolation


def test_lerp_and_slerp_hit_both_endpoints():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(16, generator=g), 3 * torch.randn(16, generator=g)
    for f in (lerp, slerp):
        assert torch.equal(f(z0, z1, 0.0), z0)
        assert torch.equal(f(z0, z1, 1.0), z1)
        path = f(z0, z1, torch.linspace(0, 1, 7))
        assert path.shape == (7, 16)
        assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


def test_slerp_stays_on_the_sphere_for_equal_norms():
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(32, generator=g), torch.randn(32, generator=g)
    z1 = z1 / z1.norm() * z0.norm()
    path = slerp(z0, z1, torch.linspace(0, 1, 11))
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(11), rtol=1e-5)
    # The straight line cuts inside the sphere: its midpoint is shorter.
    assert lerp(z0, z1, 0.5).norm() < 0.9 * z0.norm()
    # The angle grows uniformly along the great circle.
    cos = torch.nn.functional.cosine_similarity(path[:-1], path[1:], dim=1)
    assert torch.allclose(cos, cos[0].expand_as(cos), atol=1e-5)


def test_slerp_falls_back_to_lerp_when_parallel():
    z0 = torch.ones(8)
    z1 = 2 * torch.ones(8)
    assert torch.allclose(slerp(z0, z1, 0.25), lerp(z0, z1, 0.25))
    assert torch.isfinite(slerp(torch.zeros(8), z1, 0.5)).all()


def test_interpolate_shapes_and_errors():
    z0, z1 = torch.zeros(4), torch.ones(4)
    for mode in ("linear", "spherical"):
        path = interpolate(z0, z1, 5, mode)
        assert path.shape == (5, 4)
        assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    assert torch.allclose(interpolate(z0, z1, 3)[1], torch.full((4,), 0.5))
    for steps in (1, 65):
        with pytest.raises(ValueError):
            interpolate(z0, z1, steps)
    with pytest.raises(ValueError):
        interpolate(z0, z1, 4, "cubic")


def test_edit_strip_runs_from_minus_to_plus_strength():
    z, d = torch.zeros(3), torch.tensor([1.0, 0.0, 0.0])
    strip = edit_strip(z, d, 2.0, 5)
    assert strip.shape == (5, 3)
    assert torch.allclose(strip[:, 0], torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))
    assert torch.equal(strip[2], z)


# --------------------------------------------------------------------------- PCA and KL order


def test_principal_directions_are_orthonormal_ordered_and_recover_the_top_axis():
    g = torch.Generator().manual_seed(0)
    d = 10
    axis = torch.randn(d, generator=g)
    axis /= axis.norm()
    # Planted covariance: std 5 along `axis`, std 1 in every other direction.
    x = torch.randn(3000, d, generator=g)
    x = x + 4.0 * (x @ axis)[:, None] * axis + 7.0
    comps, var = principal_directions(x, 4)
    assert comps.shape == (4, d) and var.shape == (4,)
    assert torch.allclose(comps @ comps.T, torch.eye(4), atol=1e-5)
    assert (var[:-1] >= var[1:]).all()
    assert abs(float(comps[0] @ axis)) > 0.99
    assert var[0] == pytest.approx(25.0, rel=0.1)
    with pytest.raises(ValueError):
        principal_directions(x, 11)


def test_kl_order_puts_most_active_first():
    assert kl_order([0.1, 2.0, 0.0, 1.5]) == [1, 3, 0, 2]
    assert kl_order(torch.tensor([1.0, 1.0, 3.0])) == [2, 0, 1]


# --------------------------------------------------------------------------- attribute directions


@pytest.mark.parametrize("method", ["mean-difference", "linear-boundary"])
def test_attribute_direction_recovers_a_planted_linear_score(method):
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2000, 16, generator=g)
    planted = torch.randn(16, generator=g)
    planted /= planted.norm()
    scores = latents @ planted + 0.1 * torch.randn(2000, generator=g)
    d = attribute_direction(latents, scores, method=method)
    assert d.shape == (16,)
    assert float(d.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(d @ planted) > 0.95
    # Flipping the score flips the direction.
    assert float(attribute_direction(latents, -scores, method=method) @ planted) < -0.95


@pytest.mark.parametrize("method", ["mean-difference", "linear-boundary"])
def test_attribute_direction_from_two_explicit_groups(method):
    g = torch.Generator().manual_seed(2)
    planted = torch.zeros(8)
    planted[3] = 1.0
    positives = torch.randn(40, 8, generator=g) + 2 * planted
    negatives = torch.randn(60, 8, generator=g) - 2 * planted
    latents = torch.cat([positives, negatives])
    is_positive = torch.cat([torch.ones(40, dtype=torch.bool), torch.zeros(60, dtype=torch.bool)])
    for scores in (is_positive, is_positive.float()):
        d = attribute_direction(latents, scores, method=method)
        assert float(d @ planted) > 0.9


def test_attribute_direction_rejects_constant_scores_and_bad_methods():
    latents = torch.randn(50, 4)
    with pytest.raises(ValueError):
        attribute_direction(latents, torch.full((50,), 0.3))
    with pytest.raises(ValueError):
        attribute_direction(latents, torch.ones(50, dtype=torch.bool))
    with pytest.raises(ValueError):
        attribute_direction(latents, torch.randn(50), method="svm")


def test_class_direction_points_from_source_to_target():
    g = torch.Generator().manual_seed(3)
    centres = torch.eye(6)[:3] * 4  # class k sits at 4 * e_k
    labels = torch.arange(300) % 3
    latents = centres[labels] + torch.randn(300, 6, generator=g)
    d = class_direction(latents, labels, target=1)
    assert float(d @ torch.eye(6)[1]) > 0.75
    d = class_direction(latents, labels, target=2, source=0)
    expected = (torch.eye(6)[2] - torch.eye(6)[0]) / math.sqrt(2)
    assert float(d @ expected) > 0.95
    with pytest.raises(ValueError):
        class_direction(latents, labels, target=5)


def test_project_out_gives_orthogonality_and_refuses_an_empty_remainder():
    g = torch.Generator().manual_seed(4)
    others = torch.randn(3, 8, generator=g)
    d = torch.randn(8, generator=g)
    out = project_out(d, others)
    assert float(out.norm()) == pytest.approx(1.0, abs=1e-5)
    assert (others @ out).abs().max() < 1e-5
    assert float(out @ d) > 0  # still points the same way, where it can
    assert torch.allclose(project_out(d, list(others)), out, atol=1e-6)
    assert torch.allclose(project_out(d, torch.zeros(0, 8)), d / d.norm(), atol=1e-6)
    with pytest.raises(ValueError, match="Nothing is left"):
        project_out(others[0] + 2 * others[1], others)
    with pytest.raises(ValueError):
        project_out(d, torch.eye(8))


# --------------------------------------------------------------------------- encoding and inversion


def test_encode_returns_the_posterior_mean():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=4, base_width=4, hidden_dim=16)).eval()
    x = torch.rand(3, 1, 28, 28)
    mu = encode(vae, x)
    assert mu.shape == (3, 4) and not mu.requires_grad
    assert torch.allclose(mu, vae.encode(x)[0].detach())


def test_invert_recovers_an_image_the_gan_made():
    gan = tiny_gan(latent_dim=8, contrast=16.0)
    weights = {k: v.clone() for k, v in gan.state_dict().items()}
    z_true = sample_latents(2, 8, seed=11)
    with torch.no_grad():
        target = gan.decode(z_true)
    calls = []
    result = invert(gan, target, steps=200, restarts=4, seed=0, progress=lambda i, n: calls.append((i, n)))
    assert isinstance(result, InversionResult)
    assert result.latents.shape == (2, 8) and result.reconstructions.shape == (2, 1, 28, 28)
    assert result.errors.shape == (2,) and result.seconds > 0
    # Bound: these images have a pixel variance of ~0.05 and another random z misses them by a mean
    # squared error of the same order (checked below), so an error under 1e-3 (2% of the variance)
    # means the optimizer found the latent. Runs here reach ~5e-5 at worst; the prior term,
    # 1e-3 * ||z||^2 / D ~ 1e-3, pulls the optimum only slightly off. Fully deterministic: seeded
    # starts, fixed weights, no sampling, so not flaky.
    variance = float(target.var())
    assert variance > 0.02
    assert float(result.errors.max()) < 1e-3
    assert torch.nn.functional.cosine_similarity(result.latents, z_true).min() > 0.99
    with torch.no_grad():
        assert torch.allclose(result.errors, (gan.decode(result.latents) - target).pow(2).flatten(1).mean(1), atol=1e-6)
        guess = gan.decode(sample_latents(2, 8, seed=99))
    assert float((guess - target).pow(2).mean()) > 0.2 * variance  # the bound is meaningful
    # Models are only read; progress reached the end.
    assert all(torch.equal(v, gan.state_dict()[k]) for k, v in weights.items())
    assert not gan.training and calls[-1] == (200, 200)
    # Deterministic for a seed.
    again = invert(gan, target, steps=200, restarts=4, seed=0)
    assert torch.equal(again.latents, result.latents)


def test_invert_keeps_the_best_restart_and_refuses_conditional_gans():
    gan = tiny_gan(latent_dim=8)
    target = torch.rand(1, 1, 28, 28)
    few = invert(gan, target, steps=20, restarts=1, seed=0)
    many = invert(gan, target, steps=20, restarts=6, seed=0)  # its first restart is `few`'s only one
    assert float(many.errors[0]) <= float(few.errors[0]) + 1e-7
    with pytest.raises(ValueError, match="conditional"):
        invert(tiny_gan(num_classes=3), target, steps=2)
    with pytest.raises(ValueError):
        invert(gan, torch.rand(1, 1, 32, 32), steps=2)


def test_invert_finds_the_class_region_of_a_gan_that_reads_its_class_from_z():
    torch.manual_seed(3)
    gan = GAN(GANConfig(latent_dim=8, generator_width=8, discriminator_width=8, num_classes=4,
                        classes_from_latent=True, refine_convs=0))
    gan.generator.blocks[-1].weight.data.mul_(16.0)
    gan.generator.class_embedding.weight.data.mul_(4.0)  # classes far apart in pixels
    gan = gan.eval().requires_grad_(False)
    z_true = sample_latents(4, 8, seed=11)
    with torch.no_grad():
        target = gan.decode(z_true)
    result = invert(gan, target, steps=200, restarts=2, seed=0)
    classes = gan.generator.latent_classes
    assert torch.equal(classes(result.latents), classes(z_true))  # each image's own class region
    assert float(result.errors.max()) < 2e-3
    masked = invert(gan, target, steps=50, restarts=2, seed=0, pixel_weights=torch.ones(1, 1, 28, 28))
    assert masked.latents.shape == (4, 8)
    dirs, _ = gan_space_directions(gan, k=3, num_samples=500, seed=0)
    assert dirs.shape == (3, 8)


def test_invert_restores_training_mode():
    gan = tiny_gan(latent_dim=4).train()
    invert(gan, torch.rand(1, 1, 28, 28), steps=3, restarts=2)
    assert gan.generator.training


# --------------------------------------------------------------------------- GANSpace


def test_gan_space_directions_move_the_first_layer_most():
    gan = tiny_gan(latent_dim=8)
    # Plant the answer: z's coordinate 3 feeds the first layer three times as strongly as the others,
    # so the top principal component of the activations comes from moving along e_3.
    gan.generator.project[0].weight.data[:, 3] *= 3.0
    dirs, var = gan_space_directions(gan, k=4, num_samples=1000, seed=0)
    assert dirs.shape == (4, 8) and var.shape == (4,)
    assert torch.allclose(dirs.norm(dim=1), torch.ones(4), atol=1e-5)
    assert (var[:-1] >= var[1:]).all()
    assert abs(float(dirs[0, 3])) > 0.9
    # Moving along the first direction changes the first layer's activations more than a random
    # unit direction does (averaged over many start points and random directions).
    z = sample_latents(500, 8, seed=5)
    randoms = sample_latents(500, 8, seed=6)
    randoms = randoms / randoms.norm(dim=1, keepdim=True)
    project = gan.generator.project
    base = project(z)
    along = (project(z + 0.5 * dirs[0]) - base).pow(2).sum(1).mean()
    random = (project(z + 0.5 * randoms) - base).pow(2).sum(1).mean()
    assert along > 2.0 * random
    again, _ = gan_space_directions(gan, k=4, num_samples=1000, seed=0)
    assert torch.allclose(again, dirs)


# --------------------------------------------------------------------------- properties


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=8, max_size=8))
def test_any_finite_latent_decodes_to_images_in_range(values):
    gan = _PROPERTY_GAN
    with torch.no_grad():
        x = gan.decode(torch.tensor([values]))
    assert x.shape == (1, 1, 28, 28)
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


@settings(max_examples=30, deadline=None)
@given(st.floats(0, 1), st.integers(1, 10**6))
def test_slerp_between_any_two_latents_hits_the_ends_and_interpolates_the_norm(t, seed):
    g = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(6, generator=g, dtype=torch.float64), 2 * torch.randn(6, generator=g, dtype=torch.float64)
    z = slerp(z0, z1, t)
    assert torch.isfinite(z).all()
    assert float(z.norm()) == pytest.approx((1 - t) * float(z0.norm()) + t * float(z1.norm()), rel=1e-6)


_PROPERTY_GAN = tiny_gan(latent_dim=8, seed=1, contrast=16.0)
