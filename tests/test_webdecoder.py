"""The browser decoder: BatchNorm folding in Python, and decoder.js in real Chromium against PyTorch,
both its backends (the WebAssembly SIMD kernel and the plain JavaScript fallback), for tiny random
models, odd channel counts and every shipped VAE and GAN; the kernel is a static file of its own that
the page fetches (and falls back to JavaScript without), and the committed .wasm is its build record's."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from genlab.models import GAN, VAE, GANConfig, VAEConfig
from genlab.webdecoder import FORMAT, VERSION, WebDecoderError, _layer_json, export_decoder, fold_batchnorm, run_exported

from app_server import genlab_app  # noqa: F401 (fixture: the app on tiny checkpoints)

REPO = Path(__file__).resolve().parents[1]
DECODER_JS = REPO / "genlab" / "ui" / "static" / "decoder.js"
KERNEL_WASM = REPO / "genlab" / "ui" / "static" / "decoder_kernel.wasm"
KERNEL_RECORD = REPO / "genlab" / "ui" / "static" / "decoder_kernel.build.json"
ORIGIN = "http://genlab.test"  # a made-up origin whose requests the tests answer (page.route)
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


def open_decoder_page(browser, kernel: bytes | None = KERNEL_WASM.read_bytes(), before: str = ""):
    """A page at ORIGIN with decoder.js as sliders.py loads it (the kernel's URL first), the kernel
    answered from `kernel` (None: 404), and `before` run ahead of decoder.js; waits for the kernel."""
    page = browser.new_page()

    def answer(route):
        if route.request.url.startswith(f"{ORIGIN}/static/decoder_kernel.wasm"):
            if kernel is None:
                return route.fulfill(status=404, body="not here")
            return route.fulfill(status=200, body=kernel, headers={"Content-Type": "application/wasm"})
        return route.fulfill(status=200, body="<html><body><canvas id='c'></canvas></body></html>",
                             headers={"Content-Type": "text/html"})

    page.route(f"{ORIGIN}/**", answer)
    page.goto(f"{ORIGIN}/")
    page.evaluate(f"() => {{ {before}; window.GENLAB_DECODER_KERNEL_URL = 'static/decoder_kernel.wasm?v=1'; }}")
    page.add_script_tag(content=DECODER_JS.read_text())
    page.evaluate("() => GenlabDecoder.ready")
    return page


@pytest.fixture(scope="module")
def page(browser):
    page = open_decoder_page(browser)
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


def expected_kernels(spec: dict) -> list[str]:
    """The kernel function decoder.js should pick for each weighted layer of `spec`: conv_sparse for a
    convolution of at least 4 output channels whose input is a ReLU's output, conv otherwise."""
    kernels, after_relu = [], False
    for layer in spec["layers"]:
        t = layer["type"]
        if t in ("linear", "conv2d", "conv_transpose2d"):
            kernels.append("conv_sparse" if t != "linear" and after_relu and layer["out_channels"] >= 4 else "conv")
            after_relu = False
        elif t in ("relu", "silu", "sigmoid"):
            after_relu = t == "relu"
    return kernels


def test_inputs_after_a_relu_take_the_sparse_kernel(page):
    """A GAN's convolutions read ReLU outputs and run in conv_sparse; a VAE's (SiLU) in conv."""
    specs = [export_decoder(tiny_gan()), export_decoder(tiny_vae()), odd_channels_spec()[0]]
    kernels = page.evaluate("(specs) => specs.map(spec => GenlabDecoder.build(spec, {backend: 'wasm'}).kernels)", specs)
    assert kernels == [expected_kernels(spec) for spec in specs]
    assert "conv_sparse" in kernels[0] and "conv_sparse" not in kernels[1] and "conv_sparse" in kernels[2]


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
                                    "delete window.WebAssembly",  # no WebAssembly at all
                                    None],  # the kernel's file is not there (404)
                         ids=["no-simd", "no-webassembly", "no-kernel-file"])
def test_without_the_kernel_the_page_falls_back_to_javascript(browser, remove):
    page = open_decoder_page(browser, kernel=None if remove is None else KERNEL_WASM.read_bytes(), before=remove or "")
    try:
        model = tiny_gan()
        z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(4))
        used = page.evaluate("(spec) => GenlabDecoder.build(spec).backend", export_decoder(model))
        assert used == "js"
        reason = page.evaluate("() => GenlabDecoder.wasmError")
        assert ("404" in reason) if remove is None else ("WebAssembly" in reason)
        with torch.no_grad():
            expected = model.decode(z).flatten(1)
        assert (decode_in_page(page, export_decoder(model), z, "js") - expected).abs().max().item() < 1e-4
        with pytest.raises(Exception, match="cannot run here"):
            page.evaluate("(spec) => GenlabDecoder.build(spec, {backend: 'wasm'})", export_decoder(model))
    finally:
        page.close()


def test_auto_backend_is_the_kernel_in_chromium(page):
    assert page.evaluate("(spec) => GenlabDecoder.build(spec).backend", export_decoder(tiny_vae())) == "wasm"


def test_the_kernel_is_a_file_of_its_own_and_its_record_is_current():
    """The generated kernel lives in decoder_kernel.wasm, not inside the hand-written decoder.js."""
    wasm, built = KERNEL_WASM.read_bytes(), json.loads(KERNEL_RECORD.read_text())
    assert wasm[:4] == b"\0asm"
    assert built["bytes"] == len(wasm) and built["sha256"] == hashlib.sha256(wasm).hexdigest()
    assert max(len(line) for line in DECODER_JS.read_text().splitlines()) < 200  # no embedded blob


def test_kernel_rebuilds_to_the_same_bytes():
    """Reproducible build: with the clang in the build record, the source gives the committed .wasm."""
    if shutil.which("clang") is None or shutil.which("wasm-ld") is None:
        pytest.skip("clang and wasm-ld are not installed (apt-get install clang lld)")
    version = subprocess.run(["clang", "--version"], capture_output=True, text=True).stdout.splitlines()[0].strip()
    if json.loads(KERNEL_RECORD.read_text())["compiler"] != version:
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


@pytest.mark.slow
@pytest.mark.browser
def test_the_app_serves_the_kernel_as_a_static_file_and_the_sliders_use_it(browser, genlab_app):  # noqa: F811
    """In the app, decoder.js fetches decoder_kernel.wasm from Gradio's file route (as a Space serves
    it, with nothing from outside) and the sliders decode with it; no other file of static/ is served."""
    import requests

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(180_000)
    fetched: list[tuple[str, int]] = []
    page.on("response", lambda r: fetched.append((r.url, r.status)) if ".wasm" in r.url else None)
    try:
        page.goto(genlab_app + "/?tab=Latent%20sliders")
        page.wait_for_function("() => { const p = document.querySelector('.gl-panel');"
                               " return p && p.parentElement.dataset.ready === 'true'; }")
        backends = page.evaluate("() => Promise.all([...window.__genlabDecoders.values()]).then(n => n.map(x => x.backend))")
        assert backends and set(backends) == {"wasm"}, page.evaluate("() => GenlabDecoder.wasmError")
        assert [status for url, status in fetched if "decoder_kernel.wasm" in url] == [200]
        kernel_url = page.evaluate("() => window.GENLAB_DECODER_KERNEL_URL")
        assert requests.get(f"{genlab_app}/{kernel_url}", timeout=60).content == KERNEL_WASM.read_bytes()
        source_url = kernel_url.split("?")[0].replace("decoder_kernel.wasm", "decoder_kernel.c")
        assert requests.get(f"{genlab_app}/{source_url}", timeout=60).status_code >= 400
    finally:
        page.close()


@pytest.mark.parametrize("activation", ["silu", "sigmoid", "relu"])
def test_kernel_activations_are_float_accurate(page, activation):
    """The kernel's SiLU and sigmoid (its own e^x) agree with PyTorch's to float precision over a
    wide range of inputs, as the plain JavaScript ones do."""
    x = torch.linspace(-40, 40, 4001)
    spec = {"format": FORMAT, "version": VERSION, "kind": "vae", "latent_dim": 1, "output_shape": [1, 1, len(x)],
            "layers": [_layer_json(nn.Linear(1, len(x))), {"type": activation}]}
    spec["layers"][0]["weight"] = base64.b64encode(x.numpy().astype("<f4").tobytes()).decode()
    spec["layers"][0]["bias"] = base64.b64encode(torch.zeros(len(x)).numpy().astype("<f4").tobytes()).decode()
    expected = {"silu": torch.nn.functional.silu, "sigmoid": torch.sigmoid, "relu": torch.relu}[activation](x.double())
    for backend in BACKENDS:
        got = decode_in_page(page, spec, torch.ones(1, 1), backend)[0].double()
        error = ((got - expected).abs() / expected.abs().clamp_min(1e-30)).max().item()
        assert error < 1e-6, f"{backend}: relative error {error:.2e}"
