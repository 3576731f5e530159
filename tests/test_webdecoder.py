"""The browser decoder: BatchNorm folding in Python, and the JavaScript decoder in real Chromium
against PyTorch for tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.models import GAN, VAE, GANConfig, VAEConfig
from genlab.webdecoder import WebDecoderError, export_decoder, fold_batchnorm, run_exported

DECODER_JS = Path(__file__).resolve().parents[1] / "genlab" / "ui" / "static" / "decoder.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _randomize_batchnorm(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial running statistics and affine weights."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
                m.weight.copy_(torch.randn(n, generator=g) * 0.5 + 1)
                m.bias.copy_(torch.randn(n, generator=g) * 0.3)


def tiny_vae() -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=5, base_width=4, hidden_dim=16)).eval()


def tiny_gan() -> GAN:
    torch.manual_seed(1)
    gan = GAN(GANConfig(latent_dim=6, generator_width=4, discriminator_width=4))
    _randomize_batchnorm(gan)
    return gan.eval()


def test_fold_linear_batchnorm_matches_eval_module():
    torch.manual_seed(0)
    lin, bn = nn.Linear(7, 9, bias=False), nn.BatchNorm1d(9)
    _randomize_batchnorm(bn)
    bn.eval()
    x = torch.randn(5, 7)
    torch.testing.assert_close(fold_batchnorm(lin, bn)(x), bn(lin(x)), atol=1e-5, rtol=1e-5)


def test_fold_convtranspose_batchnorm_matches_eval_module():
    torch.manual_seed(0)
    conv, bn = nn.ConvTranspose2d(3, 4, 4, stride=2, padding=1), nn.BatchNorm2d(4)
    _randomize_batchnorm(bn, seed=3)
    bn.eval()
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(fold_batchnorm(conv, bn)(x), bn(conv(x)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [tiny_vae, tiny_gan])
def test_export_runs_like_the_model(make):
    model = make()
    spec = json.loads(json.dumps(export_decoder(model)))  # survives JSON
    assert not any(layer["type"].startswith("batch") for layer in spec["layers"])
    z = torch.randn(4, model.latent_dim)
    with torch.no_grad():
        expected = model.decode(z)
    torch.testing.assert_close(run_exported(spec, z), expected, atol=1e-5, rtol=1e-5)


def test_conditional_generator_is_refused():
    gan = GAN(GANConfig(latent_dim=4, generator_width=4, discriminator_width=4, num_classes=3)).eval()
    with pytest.raises(WebDecoderError, match="conditional"):
        export_decoder(gan)


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content("<html><body><canvas id='c'></canvas></body></html>")
        page.add_script_tag(content=DECODER_JS.read_text())
        yield page
        browser.close()


@pytest.mark.parametrize("make", [tiny_vae, tiny_gan])
def test_javascript_decoder_matches_pytorch(page, make):
    model = make()
    z = torch.randn(3, model.latent_dim, generator=torch.Generator().manual_seed(7)) * 2
    with torch.no_grad():
        expected = model.decode(z)
    got = page.evaluate(
        """([spec, zs]) => { const net = GenlabDecoder.build(spec);
                             return zs.map(z => Array.from(net.decode(z))); }""",
        [export_decoder(model), z.tolist()],
    )
    got = torch.tensor(got, dtype=torch.float32).reshape(expected.shape)
    assert (got - expected).abs().max().item() < 1e-4


def test_javascript_draws_the_decoded_pixels(page):
    model = tiny_vae()
    z = torch.randn(1, model.latent_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = (model.decode(z)[0, 0] * 255).round()
    pixels = page.evaluate(
        """([spec, z]) => { const net = GenlabDecoder.build(spec); const c = document.getElementById('c');
                            GenlabDecoder.draw(c, net.decode(z), net.outputShape);
                            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                            return Array.from(d).filter((_, i) => i % 4 === 0); }""",
        [export_decoder(model), z[0].tolist()],
    )
    got = torch.tensor(pixels, dtype=torch.float32).reshape(expected.shape)
    assert (got - expected).abs().max().item() <= 1  # float rounding may differ by one level
