"""The "Latent sliders" tab: every endpoint over plain HTTP, its error messages, and the in-browser
decoder driven by real slider events in Chromium."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from PIL import Image

from app_server import call, fetch_image, running_app, upload
from genlab.checkpoints import load_checkpoint, save_checkpoint
from genlab.data import CLASS_NAMES, load_dataset
from genlab.latent import encode, sample_latents
from genlab.models import GAN, VAE, Classifier, ClassifierConfig, GANConfig, VAEConfig
from genlab.ui.images import to_pil
from genlab.webdecoder import run_exported

VAE_NAME, GAN_NAME, CLASSIFIER_NAME = "mnist-vae-kl", "mnist-gan-8", "mnist-classifier"
KL_PER_DIM = [0.001, 2.5, 0.4, 1.2]  # expected slider order: z1, z3, z2, z0
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A tiny VAE with per-dimension KL metrics, a tiny GAN with non-trivial BatchNorm statistics
    (so folding them matters in the browser), and a classifier, all untrained, on MNIST."""
    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    names = CLASS_NAMES["mnist"]
    gan = GAN(GANConfig(latent_dim=8, generator_width=8, discriminator_width=8)).eval()
    with torch.no_grad():
        for m in gan.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    save_checkpoint(gan, root / GAN_NAME, "gan", dataset="mnist", class_names=names)
    vae = VAE(VAEConfig(latent_dim=4, base_width=8, hidden_dim=32)).eval()
    save_checkpoint(vae, root / VAE_NAME, "vae", dataset="mnist", class_names=names,
                    metrics={"kl_per_dim": KL_PER_DIM})
    classifier = Classifier(ClassifierConfig(num_classes=10, width=8, feature_dim=16)).eval()
    save_checkpoint(classifier, root / CLASSIFIER_NAME, "classifier", dataset="mnist", class_names=names)
    return root


@pytest.fixture(scope="module")
def base(root) -> str:
    with running_app(root) as url:
        yield url


def model(root: Path, name: str):
    return load_checkpoint(root / name).model


def pixels(image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.int16)


def test_endpoints_are_listed(base):
    names = requests.get(f"{base}/gradio_api/info", timeout=30).json()["named_endpoints"]
    for name in ("decode", "web_decoder", "slider_start_sample", "slider_start_dataset", "slider_start_upload",
                 "slider_randomize", "slider_reset"):
        assert f"/{name}" in names


def test_start_sample_orders_vae_dimensions_by_kl(base, root):
    event, (_, spec, image, note) = call(base, "slider_start_sample", [VAE_NAME, 5])
    assert event == "complete"
    assert [d["i"] for d in spec["dims"]] == [1, 3, 2, 0]
    assert spec["dims"][0]["note"].startswith("KL 2.50") and spec["dims"][-1]["inactive"]
    z = sample_latents(1, 4, 5)
    np.testing.assert_allclose(spec["latent"], z[0].numpy(), atol=1e-6)
    expected = to_pil(model(root, VAE_NAME).decode(z)[0])
    assert np.array_equal(pixels(fetch_image(base, image)), pixels(expected))
    assert "seed 5" in note


def test_gan_start_has_ganspace_directions(base):
    event, (_, spec, _, _) = call(base, "slider_start_sample", [GAN_NAME, 0])
    assert event == "complete"
    assert len(spec["dims"]) == 8 and len(spec["directions"]) == 8
    for d in spec["directions"]:
        assert abs(np.linalg.norm(d["vector"]) - 1) < 1e-4 and d["label"].startswith("PC")


@pytest.mark.parametrize("name", [VAE_NAME, GAN_NAME])
def test_decode_matches_the_model(base, root, name):
    z = [0.5, -1.0, 2.0, 0.0] + ([0.3] * 4 if name == GAN_NAME else [])
    event, (image,) = call(base, "decode", [name, z])
    assert event == "complete"
    expected = to_pil(model(root, name).decode(torch.tensor([z]))[0])
    assert np.array_equal(pixels(fetch_image(base, image)), pixels(expected))


@pytest.mark.parametrize("name", [VAE_NAME, GAN_NAME])
def test_web_decoder_export_decodes_like_the_model(base, root, name):
    event, (spec,) = call(base, "web_decoder", [name])
    assert event == "complete" and spec["format"] == "genlab-webdecoder" and spec["model"] == name
    m = model(root, name)
    z = torch.randn(3, m.latent_dim, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(run_exported(spec, z), m.decode(z), atol=1e-5, rtol=1e-5)


def test_start_from_test_image_encodes_it(base, root):
    event, (_, spec, _, note) = call(base, "slider_start_dataset", [VAE_NAME, 3, 50])
    assert event == "complete"
    image = load_dataset("mnist", "test").images[3:4]
    np.testing.assert_allclose(spec["latent"], encode(model(root, VAE_NAME), image)[0].numpy(), atol=1e-5)
    assert "test image #3" in note


def test_start_from_test_image_inverts_the_gan(base):
    event, (_, spec, _, note) = call(base, "slider_start_dataset", [GAN_NAME, 0, 10])
    assert event == "complete" and len(spec["latent"]) == 8
    assert "invert" in note.lower()


def test_start_from_upload(base, tmp_path):
    picture = np.zeros((40, 40, 3), np.uint8)
    picture[10:30, 15:25] = 255
    path = tmp_path / "bar.png"
    Image.fromarray(picture).save(path)
    event, (_, spec, _, note) = call(base, "slider_start_upload", [VAE_NAME, upload(base, path), 50])
    assert event == "complete" and len(spec["latent"]) == 4
    assert "upload" in note


def test_randomize_gives_a_new_latent(base):
    _, (_, a, _, _) = call(base, "slider_randomize", [VAE_NAME])
    _, (_, b, _, _) = call(base, "slider_randomize", [VAE_NAME])
    assert a["latent"] != b["latent"]


def test_reset_returns_to_the_start_of_the_session(base):
    _, (_, started, _, _) = call(base, "slider_start_sample", [VAE_NAME, 11], session_hash="reset-session")
    event, (_, spec, _, _) = call(base, "slider_reset", [VAE_NAME], session_hash="reset-session")
    assert event == "complete" and spec["latent"] == started["latent"]
    _, (_, fresh, _, _) = call(base, "slider_reset", [VAE_NAME], session_hash="another-session")
    assert fresh["latent"] == [0.0] * 4


def _raw_call(base: str, api_name: str, body: str) -> tuple[str, str]:
    """Like `call`, but with a hand-written JSON body (NaN and Infinity are not strict JSON)."""
    r = requests.post(f"{base}/gradio_api/call/{api_name}", data=body,
                      headers={"Content-Type": "application/json"}, timeout=30)
    r.raise_for_status()
    text = requests.get(f"{base}/gradio_api/call/{api_name}/{r.json()['event_id']}", timeout=30).text
    event = text.split("event:", 1)[1].split("\n", 1)[0].strip()
    return event, text


@pytest.mark.parametrize("bad, message", [
    ("NaN", "finite number"), ("Infinity", "finite number"), ("1e9", "finite number"), ('"a"', "must be a number"),
])
def test_decode_refuses_bad_latent_entries(base, bad, message):
    event, text = _raw_call(base, "decode", f'{{"data": ["{VAE_NAME}", [0, {bad}, 0, 0]]}}')
    assert event == "error" and message in text and "Traceback" not in text


@pytest.mark.parametrize("api_name, data, message", [
    ("decode", [VAE_NAME, [0.0] * 3], "has a 4-d latent; got 3 values"),
    ("decode", [VAE_NAME, "not a list"], "list of numbers"),
    ("decode", ["no-such-model", [0.0] * 4], "no model called 'no-such-model'"),
    ("decode", [CLASSIFIER_NAME, [0.0] * 4], "is a classifier"),
    ("web_decoder", ["no-such-model"], "no model called"),
    ("slider_start_sample", [VAE_NAME, -1], "less than minimum value 0"),  # checked by gr.Number
    ("slider_start_sample", [None, 0], "Pick a model"),
    pytest.param("slider_start_dataset", [VAE_NAME, 10**7, 50], "Test image number must be between"),
    ("slider_start_dataset", [GAN_NAME, 0, 0], "less than minimum value 10"),  # checked by gr.Slider
    ("slider_start_dataset", [GAN_NAME, 0, 10**6], "greater than maximum value"),
    ("slider_start_upload", [VAE_NAME, None, 50], "upload a picture"),
    ("slider_randomize", ["no-such-model"], "There is no model called"),
])
def test_bad_input_is_a_clear_error(base, api_name, data, message):
    event, payload = call(base, api_name, data)
    assert event == "error", payload
    assert message in str(payload)


# -- the browser ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def page(base):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.set_default_timeout(180_000)  # the full app loads slowly on a busy 2-core machine
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base)
        page.get_by_role("tab", name="Latent sliders").click()
        page.wait_for_selector(".gl-panel", state="attached", timeout=180_000)
        page.wait_for_function("() => document.querySelector('.gl-panel').parentElement"
                               ".closest('[data-ready=\"true\"]') !== null", timeout=180_000)
        yield page
        assert not errors, errors
        browser.close()


CANVAS_PIXELS = """() => { const c = document.querySelector('.gl-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return Array.from(d).filter((_, i) => i % 4 === 0); }"""
PANEL_LATENT = "() => Array.from(document.querySelector('.gl-panel').parentElement.closest('[data-model]').genlabSliders.z)"
PANEL_MODEL = "() => document.querySelector('.gl-panel').parentElement.closest('[data-model]').dataset.model"


def test_dragging_a_slider_changes_the_canvas(page):
    before = page.evaluate(CANVAS_PIXELS)
    slider = page.locator(".gl-dims input[type=range]").first
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 3, y)
    page.mouse.down()
    for x in np.linspace(box["x"] + 3, box["x"] + box["width"] - 3, 12):
        page.mouse.move(float(x), y)
    page.mouse.up()
    page.wait_for_timeout(100)
    assert page.evaluate(CANVAS_PIXELS) != before


def test_fast_moves_end_on_the_servers_image_of_the_last_latent(page, root):
    page.locator("button", has_text="Server-side image").click()
    page.wait_for_selector(".genlab-slider-server-image img", timeout=180_000)
    src_before = page.get_attribute(".genlab-slider-server-image img", "src")
    # 40 moves of two sliders in one task: most land in the same frame, so the rendering coalesces.
    moved = page.evaluate("""() => {
        const panel = document.querySelector('.gl-panel').parentElement.closest('[data-model]');
        const inputs = document.querySelectorAll('.gl-dims input[type=range]');
        let v = 0;
        for (let k = 0; k < 40; k++) {
            const input = inputs[k % 2];
            v = -3 + 6 * k / 39;
            input.value = String(v);
            input.dispatchEvent(new Event('input', {bubbles: true}));
        }
        inputs[1].dispatchEvent(new Event('change', {bubbles: true}));  // release
        // which latent dimension each of the two sliders moves, and its last value
        return [0, 1].map(k => [panel.genlabSliders.spec.dims[k].i, +inputs[k].value]);
    }""")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    name = page.evaluate(PANEL_MODEL)
    z = torch.tensor([page.evaluate(PANEL_LATENT)], dtype=torch.float32)
    m = model(root, name)
    for i, value in moved:  # the last value of each slider won
        assert z[0, i].item() == pytest.approx(value, abs=1e-6)
    expected = (m.decode(z)[0, 0] * 255).round().numpy()
    drawn = np.array(page.evaluate(CANVAS_PIXELS), dtype=np.float32).reshape(expected.shape)
    assert np.abs(drawn - expected).max() <= 1
    # The release reached the server: its image is the decode of the same latent.
    page.wait_for_function("""before => { const img = document.querySelector('.genlab-slider-server-image img');
                              return img && img.src !== before && img.complete && img.naturalWidth > 0; }""",
                           arg=src_before, timeout=180_000)
    src = page.get_attribute(".genlab-slider-server-image img", "src")
    image = Image.open(io.BytesIO(requests.get(src, timeout=30).content)).convert("L")
    assert np.array_equal(pixels(image), pixels(to_pil(m.decode(z)[0])))
    assert json.dumps(z.tolist())  # the latent the browser holds is plain numbers
