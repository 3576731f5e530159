"""Model shapes, the reparameterization trick, the KL term, the IWAE bound, seeded sampling."""

from __future__ import annotations

import math

import pytest
import torch

from conftest import tiny_config
from genlab.latent import sample_latents
from genlab.models import GAN, VAE, Classifier, Discriminator, Generator
from genlab.models.vae import kl_to_standard_normal, negative_elbo_terms, reparameterize

LAYOUTS = [(s, c) for s in (28, 32, 64) for c in (1, 3)]


@pytest.mark.parametrize("image_size,channels", LAYOUTS)
def test_vae_shapes(image_size, channels):
    model = VAE(tiny_config("vae", image_size, channels)).eval()
    x = torch.rand(3, channels, image_size, image_size)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, 4)
    logits, mu2, logvar2 = model(x, torch.Generator().manual_seed(0))
    assert logits.shape == x.shape and mu2.shape == (3, 4)
    images = model.decode(torch.randn(5, 4))
    assert images.shape == (5, channels, image_size, image_size)
    assert images.min() >= 0 and images.max() <= 1
    loss = model.loss(x, torch.Generator().manual_seed(0))
    assert loss.total.shape == () and torch.isfinite(loss.total)


@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("image_size,channels", LAYOUTS)
def test_gan_shapes(image_size, channels, conditional):
    config = tiny_config("gan", image_size, channels, num_classes=10 if conditional else 0)
    gan = GAN(config).eval()
    assert isinstance(gan.generator, Generator) and isinstance(gan.discriminator, Discriminator)
    labels = torch.tensor([0, 3, 9]) if conditional else None
    images = gan.generator(torch.randn(3, 8), labels)
    assert images.shape == (3, channels, image_size, image_size)
    assert images.min() >= 0 and images.max() <= 1
    assert torch.equal(gan.decode(torch.zeros(3, 8), labels), gan.generator(torch.zeros(3, 8), labels))
    logits = gan.discriminator(images, labels)
    assert logits.shape == (3,)
    if conditional:
        with pytest.raises(ValueError, match="class-conditional"):
            gan.generator(torch.randn(3, 8))
        with pytest.raises(ValueError, match="class-conditional"):
            gan.discriminator(images)


def test_generator_can_read_its_class_from_the_latent():
    config = tiny_config("gan", num_classes=4, classes_from_latent=True)
    assert not config.needs_labels and tiny_config("gan", num_classes=4).needs_labels
    gan = GAN(config).eval()
    z = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    classes = gan.generator.latent_classes(z)
    assert torch.equal(classes, z[:, :4].argmax(1)) and len(set(classes.tolist())) == 4
    with torch.no_grad():  # z alone gives the image of z's own class, and the class matters
        assert torch.equal(gan.generator(z), gan.generator(z, classes))
        assert not torch.allclose(gan.generator(z), gan.generator(z, (classes + 1) % 4))
    for bad in (dict(num_classes=0), dict(num_classes=9)):  # no classes; more classes than latent dims
        with pytest.raises(ValueError, match="classes_from_latent"):
            tiny_config("gan", classes_from_latent=True, **bad)


@pytest.mark.parametrize("image_size,channels", LAYOUTS)
def test_classifier_shapes(image_size, channels):
    model = Classifier(tiny_config("classifier", image_size, channels)).eval()
    x = torch.rand(2, channels, image_size, image_size)
    assert model.features(x).shape == (2, 16)
    assert model(x).shape == (2, 4)


@pytest.mark.parametrize("kind", ["vae", "gan", "classifier"])
def test_unsupported_layouts_are_refused(kind):
    with pytest.raises(ValueError, match="image_size"):
        tiny_config(kind, image_size=30)
    with pytest.raises(ValueError, match="channels"):
        tiny_config(kind, channels=2)


def test_reparameterization_worked_example():
    """The lesson's example: mu=[0.5,-0.2], sigma=[0.1,0.3], eps=[0.5,-1.0] -> z=[0.55,-0.5]."""
    mu = torch.tensor([[0.5, -0.2]], dtype=torch.float64)
    logvar = 2 * torch.log(torch.tensor([[0.1, 0.3]], dtype=torch.float64))
    eps = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    z = reparameterize(mu, logvar, eps)
    torch.testing.assert_close(z, torch.tensor([[0.55, -0.5]], dtype=torch.float64), atol=1e-6, rtol=0)
    # float32, as the models use it
    z32 = reparameterize(mu.float(), logvar.float(), eps.float())
    torch.testing.assert_close(z32, torch.tensor([[0.55, -0.5]]), atol=1e-6, rtol=0)


def test_closed_form_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.0, 1.0, -0.7, 2.0], dtype=torch.float64)
    logvar = torch.tensor([0.0, -1.0, 0.8, -3.0], dtype=torch.float64)
    closed = kl_to_standard_normal(mu, logvar)
    assert closed[0] == 0  # N(0, 1) against itself
    n = 400_000
    eps = torch.randn((n, 4), generator=g, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = -0.5 * eps.pow(2) - 0.5 * logvar  # the 0.5*log(2*pi) terms cancel
    log_p = -0.5 * z.pow(2)
    samples = log_q - log_p
    mc, stderr = samples.mean(0), samples.std(0) / math.sqrt(n)
    assert torch.all((mc - closed).abs() <= 5 * stderr + 1e-3), (mc, closed, stderr)
    assert torch.all(closed >= 0)


def test_negative_elbo_terms_add_up():
    model = VAE(tiny_config("vae"))
    x = torch.rand(4, 1, 28, 28).round()
    logits, mu, logvar = model(x, torch.Generator().manual_seed(1))
    terms = negative_elbo_terms(logits, x, mu, logvar, beta=0.5)
    torch.testing.assert_close(terms.total, terms.reconstruction + 0.5 * terms.kl)
    torch.testing.assert_close(terms.negative_elbo, terms.reconstruction + terms.kl)
    # an untrained decoder is near p=0.5 per pixel: about 784 * log 2 nats of reconstruction
    assert 300 < float(terms.reconstruction.detach()) < 1000


def test_iwae_bound_k1_is_the_elbo_and_grows_with_k():
    torch.manual_seed(0)
    model = VAE(tiny_config("vae")).eval()
    x = (torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(2)) > 0.7).float()
    n = 2000
    # k = 1 is a one-sample estimate of the ELBO: its mean over many draws is the ELBO
    k1 = model.iwae_bound(x.repeat(n, 1, 1, 1), num_samples=1,
                          generator=torch.Generator().manual_seed(3)).view(n, 2).double()
    g = torch.Generator().manual_seed(4)
    recon = []
    for _ in range(20):  # the ELBO with the closed-form KL, reconstruction averaged over draws
        logits, mu, logvar = model(x.repeat(100, 1, 1, 1), g)
        recon.append(torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.repeat(100, 1, 1, 1), reduction="none").flatten(1).sum(1).view(100, 2))
    mu, logvar = model.encode(x)
    elbo = -(torch.cat(recon).double().mean(0) + kl_to_standard_normal(mu, logvar).sum(1).double())
    stderr = k1.std(0) / math.sqrt(n)
    assert torch.all((k1.mean(0) - elbo).abs() < 5 * stderr + 0.05), (k1.mean(0), elbo, stderr)
    # more importance samples: a tighter (larger) bound than the average one-sample value
    k64 = model.iwae_bound(x, num_samples=64, generator=torch.Generator().manual_seed(5), chunk=16)
    assert k64.shape == (2,)
    assert torch.all(k64.double() > k1.mean(0)), (k64, k1.mean(0))
    # chunking does not change the result
    same = model.iwae_bound(x, num_samples=64, generator=torch.Generator().manual_seed(5), chunk=64)
    torch.testing.assert_close(same, k64)


@pytest.mark.parametrize("kind", ["vae", "gan"])
def test_same_seed_same_image(kind):
    torch.manual_seed(0)
    model = (VAE if kind == "vae" else GAN)(tiny_config(kind)).eval()
    first = model.decode(sample_latents(4, model.latent_dim, seed=42))
    second = model.decode(sample_latents(4, model.latent_dim, seed=42))
    assert torch.equal(first, second)
    other = model.decode(sample_latents(4, model.latent_dim, seed=43))
    assert not torch.allclose(first, other)
    assert torch.equal(sample_latents(3, 5, seed=7), sample_latents(3, 5, seed=7))
    assert sample_latents(3, 5, seed=7, scale=0.5).std() < sample_latents(3, 5, seed=7).std()


def test_recalibrated_batchnorm_holds_the_generators_own_statistics():
    from genlab.models.gan import recalibrate_batchnorm

    torch.manual_seed(0)
    gen = Generator(tiny_config("gan", latent_dim=8))
    first_bn = gen.project[1]
    first_bn.running_mean.fill_(5.0)  # stale statistics, as a moving average would carry
    first_bn.running_var.fill_(9.0)
    recalibrate_batchnorm(gen, batches=4, batch_size=32, seed=3)
    # The same noise, drawn the same way: the first BatchNorm sees Linear(z) for all 128 samples.
    g = torch.Generator().manual_seed(3)
    z = torch.cat([torch.randn((32, 8), generator=g) for _ in range(4)])
    with torch.no_grad():
        pre = gen.project[0](z)
    torch.testing.assert_close(first_bn.running_mean, pre.mean(0), rtol=1e-4, atol=1e-5)
    assert first_bn.momentum == 0.1  # restored
    # Same seed, same statistics: reproducible.
    again = recalibrate_batchnorm(gen, batches=4, batch_size=32, seed=3)
    torch.testing.assert_close(again.project[1].running_mean, pre.mean(0), rtol=1e-4, atol=1e-5)
