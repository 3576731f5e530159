"""The browser decoder: BatchNorm folding in Python, and decoder.js in real Chromium against PyTorch,
both its backends (the WebAssembly SIMD kernel and the plain JavaScript fallback), for tiny random
models, odd channel counts and every shipped VAE and GAN; the embedded kernel is the committed one."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.models import GAN, VAE, GANConfig, VAEConfig
from genlab.webdecoder import FORMAT, VERSION, WebDecoderError, _layer_json, export_decoder, fold_batchnorm, run_exported

REPO = Path(__file__).resolve().parents[1]
DECODER_JS = REPO / "genlab" / "ui" / "static" / "decoder.js"
KERNEL_WASM = REPO / "genlab" / "ui" / "static" / "decoder_kernel.wasm"
SHIPPED = sorted(p for pattern in ("*-gan-*", "*-vae-*") for p in (REPO / "checkpoints").glob(pattern)
                 if (p / "model.safetensors").exists()
                 and json.loads((p / "config.json").read_text()).get("kind") in ("vae", "gan"))
BACKENDS = ["wasm", "js"]
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


def tiny_class_gan() -> GAN:
    """A generator that reads its class from z (argmax of the first 3 coordinates)."""
    torch.manual_seed(2)
    gan = GAN(GANConfig(latent_dim=6, generator_width=4, discriminator_width=4, num_classes=3,
                        classes_from_latent=True))
    _randomize_batchnorm(gan)
    gan.generator.class_embedding.weight.data.mul_(4.0)  # classes that differ visibly
    gan.generator.blocks[-1].weight.data.mul_(16.0)  # images with contrast, not a uniform grey
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


@pytest.mark.parametrize("make", [tiny_vae, tiny_gan, tiny_class_gan])
def test_export_runs_like_the_model(make):
    model = make()
    spec = json.loads(json.dumps(export_decoder(model)))  # survives JSON
    assert not any(layer["type"].startswith("batch") for layer in spec["layers"])
    z = torch.randn(4, model.latent_dim)
    with torch.no_grad():
        expected = model.decode(z)
    torch.testing.assert_close(run_exported(spec, z), expected, atol=1e-5, rtol=1e-5)


def test_class_from_latent_export_switches_class_where_the_model_does():
    model = tiny_class_gan()
    spec = export_decoder(model)
    assert spec["layers"][0] == {"type": "latent_class", "classes": 3}
    z = torch.zeros(3, 6)
    z[torch.arange(3), torch.arange(3)] = 1.0  # one latent per class
    with torch.no_grad():
        expected = model.decode(z)
    got = run_exported(spec, z)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert (got[0] - got[1]).abs().max() > 1e-3  # the classes differ: the one-hot reached the Linear


def test_conditional_generator_is_refused():
    gan = GAN(GANConfig(latent_dim=4, generator_width=4, discriminator_width=4, num_classes=3)).eval()
    with pytest.raises(WebDecoderError, match="conditional"):
        export_decoder(gan)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def page(browser):
    page = browser.new_page()
    page.set_content("<html><body><canvas id='c'></canvas></body></html>")
    page.add_script_tag(content=DECODER_JS.read_text())
    yield page
    page.close()


def decode_in_page(page, spec: dict, z: torch.Tensor, backend: str) -> torch.Tensor:
    """decoder.js's images for latents z (B, D) with `backend`, as (B, C*H*W); checks the backend ran."""
    used, images = page.evaluate(
        """([spec, zs, backend]) => { const net = GenlabDecoder.build(spec, {backend});
                                      return [net.backend, zs.map(z => Array.from(net.decode(z)))]; }""",
        [spec, z.tolist(), backend],
    )
    assert used == backend
    return torch.tensor(images, dtype=torch.float32)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("make", [tiny_vae, tiny_gan, tiny_class_gan])
def test_javascript_decoder_matches_pytorch(page, make, backend):
    model = make()
    z = torch.randn(3, model.latent_dim, generator=torch.Generator().manual_seed(7)) * 2
    with torch.no_grad():
        expected = model.decode(z)
    got = decode_in_page(page, export_decoder(model), z, backend).reshape(expected.shape)
    assert (got - expected).abs().max().item() < 1e-4


def odd_channels_spec() -> tuple[dict, int]:
    """An export whose channel counts exercise every block width of the kernel (16, 8, 4, single
    channels) and inputs that are not a multiple of 4, with every layer type; (spec, latent_dim)."""
    torch.manual_seed(5)
    layers = [nn.Linear(3, 29 * 3 * 3), nn.SiLU(), ("reshape", [29, 3, 3]),
              nn.ConvTranspose2d(29, 13, 4, stride=2, padding=1), nn.ReLU(),
              nn.Conv2d(13, 30, 3, padding=1), nn.SiLU(),
              nn.Conv2d(30, 6, 3, padding=1, bias=False), nn.ReLU(), nn.ReLU(),
              nn.ConvTranspose2d(6, 2, 4, stride=2, padding=1, bias=False), nn.Sigmoid()]
    spec = {"format": FORMAT, "version": VERSION, "kind": "vae", "latent_dim": 3, "output_shape": [2, 12, 12],
            "layers": [_layer_json(m) for m in layers]}
    return spec, 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoder_handles_odd_channel_counts(page, backend):
    spec, dim = odd_channels_spec()
    z = torch.randn(4, dim, generator=torch.Generator().manual_seed(2)) * 3
    expected = run_exported(spec, z).flatten(1)
    got = decode_in_page(page, spec, z, backend)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() < 1e-4


@pytest.mark.parametrize("checkpoint", SHIPPED, ids=[p.name for p in SHIPPED])
def test_decoder_matches_pytorch_on_shipped_models(page, checkpoint):
    from genlab.checkpoints import load_checkpoint

    model = load_checkpoint(checkpoint).model.eval()
    z = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(11)) * 1.5
    with torch.no_grad():
        expected = model.decode(z).flatten(1)
    got = page.evaluate(
        """([spec, zs, backends]) => backends.map(backend => { const net = GenlabDecoder.build(spec, {backend});
                                                              return [net.backend, zs.map(z => Array.from(net.decode(z)))]; })""",
        [export_decoder(model), z.tolist(), BACKENDS],
    )
    for backend, (used, images) in zip(BACKENDS, got):
        assert used == backend
        difference = (torch.tensor(images) - expected).abs().max().item()
        assert difference <= 1e-3, f"{backend}: max abs difference {difference:.2e}"


@pytest.mark.parametrize("remove", ["WebAssembly.validate = () => false",  # as a browser without SIMD answers
                                    "delete window.WebAssembly"],  # no WebAssembly at all
                         ids=["no-simd", "no-webassembly"])
def test_without_wasm_simd_the_page_falls_back_to_javascript(browser, remove):
    page = browser.new_page()
    try:
        page.set_content("<html><body></body></html>")
        page.evaluate(f"() => {{ {remove}; }}")
        page.add_script_tag(content=DECODER_JS.read_text())
        model = tiny_gan()
        z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(4))
        used = page.evaluate("(spec) => GenlabDecoder.build(spec).backend", export_decoder(model))
        assert used == "js"
        with torch.no_grad():
            expected = model.decode(z).flatten(1)
        assert (decode_in_page(page, export_decoder(model), z, "js") - expected).abs().max().item() < 1e-4
        with pytest.raises(Exception, match="WebAssembly"):
            page.evaluate("(spec) => GenlabDecoder.build(spec, {backend: 'wasm'})", export_decoder(model))
    finally:
        page.close()


def test_auto_backend_is_the_kernel_in_chromium(page):
    assert page.evaluate("(spec) => GenlabDecoder.build(spec).backend", export_decoder(tiny_vae())) == "wasm"


def embedded_kernel() -> tuple[str, bytes]:
    m = re.search(r'// kernel: ([^\n]*)\n  const KERNEL_WASM = "([A-Za-z0-9+/=]*)";', DECODER_JS.read_text())
    assert m, "decoder.js has no embedded kernel"
    return m.group(1), base64.b64decode(m.group(2))


def test_embedded_kernel_is_the_committed_wasm():
    compiler, wasm = embedded_kernel()
    assert wasm[:4] == b"\0asm" and wasm == KERNEL_WASM.read_bytes()
    assert f"{len(wasm)} bytes" in compiler


def test_kernel_rebuilds_to_the_same_bytes():
    """Reproducible build: with the clang recorded in decoder.js, the source gives the committed .wasm."""
    if shutil.which("clang") is None or shutil.which("wasm-ld") is None:
        pytest.skip("clang and wasm-ld are not installed (apt-get install clang lld)")
    version = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout.splitlines()[0].strip()
    if not embedded_kernel()[0].startswith(version + ","):
        pytest.skip(f"the kernel was built by another compiler than {version}")
    check = subprocess.run([sys.executable, str(REPO / "tools" / "build_decoder_kernel.py"), "--check"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


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
