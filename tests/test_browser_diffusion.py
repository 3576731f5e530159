"""In real Chromium: every tab of the app with a diffusion model picked (a pixel one, then a latent
prior) - no Error badge or toast anywhere, and each tab shows what it offers that kind or one
sentence saying it has nothing for it."""

from __future__ import annotations

import os

import pytest

from app_server import DIFFUSION_NAME, PRIOR_NAME, add_tiny_diffusion, make_tiny_checkpoints, running_app
from genlab.ui.app import TABS as APP_TABS
from test_browser_edit import CHROMIUM, CHROMIUM_ARGS
from test_own_images import open_tab

TABS = [title for title, _ in APP_TABS]  # every tab of the app

TIMEOUT_MS = 180_000  # generous: the machine is shared with training jobs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = add_tiny_diffusion(make_tiny_checkpoints(tmp_path_factory.mktemp("diffusion-app")))
    with running_app(root) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_with(browser, app: str, model: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{app}/?model={model}")
    page.get_by_label("Model").first.wait_for()
    page.wait_for_function("(name) => Array.from(document.querySelectorAll('input')).some((i) => i.value.includes(name))",
                           arg=model)
    return page


def settle(page) -> None:
    """Wait until no event is running (Gradio shows a pending tracker while one is)."""
    page.wait_for_function("() => !document.querySelector('.pending, .progress-text, .eta-bar')", timeout=TIMEOUT_MS)
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('.pending, .progress-text, .eta-bar')", timeout=TIMEOUT_MS)


def no_errors(page, where: str) -> None:
    toasts = page.locator(".toast-body.error")
    assert toasts.count() == 0, f"{where}: {toasts.first.inner_text()}"
    badges = page.get_by_text("Error", exact=True).locator("visible=true")
    assert badges.count() == 0, f"{where}: an Error badge is shown"


def visit(page, tab: str) -> None:
    open_tab(page, tab)
    settle(page)
    no_errors(page, tab)


def test_every_tab_with_a_pixel_diffusion_model(browser, app):
    page = open_with(browser, app, DIFFUSION_NAME)
    try:
        settle(page)
        for tab in TABS:
            visit(page, tab)
        # Sample: the steps slider is there, at the model's default.
        open_tab(page, "Sample")
        steps = page.locator("#genlab-sample-steps")
        steps.wait_for(state="visible")
        assert steps.locator("input[type=number]").first.input_value() == "3"
        # Latent sliders: one sentence instead of 784 sliders.
        open_tab(page, "Latent sliders")
        status = page.locator(".gl-status:visible").first
        page.wait_for_function("() => (document.querySelector('.gl-status') || {}).textContent.includes('no sliders')")
        assert "784-d starting noise" in status.inner_text()
        assert page.locator(".gl-row").count() == 0
        # Interpolate from a test image: it is turned into its noise, and the strip walks from there.
        open_tab(page, "Interpolate")
        page.locator("#genlab-interpolate-start:visible").last.get_by_label("Test image").check()
        settle(page)
        page.locator("#genlab-interpolate-button").click()
        page.wait_for_function("() => document.body.innerText.includes('ODE backwards')")
        settle(page)
        no_errors(page, "Interpolate, after the button")
        assert page.locator("#genlab-interpolation-strip img").count() == 1
        # Edit attributes: one sentence, no error, even after pressing Edit.
        open_tab(page, "Edit attributes")
        page.wait_for_function("() => document.body.innerText.includes('has no attribute directions')")
        page.locator("#genlab-edit-button").click()
        settle(page)
        no_errors(page, "Edit attributes, after the button")
        # Inpainting: the diffusion model fills beside the VAE and the GAN.
        open_tab(page, "Inpainting")
        page.locator("#genlab-inpaint-button").click()
        page.locator("#genlab-inpaint-diffusion img").first.wait_for()
        settle(page)
        no_errors(page, "Inpainting, after the button")
        assert page.locator("#genlab-inpaint-diffusion img").count() == 4
    finally:
        page.close()


def test_every_tab_with_a_latent_diffusion_prior(browser, app):
    page = open_with(browser, app, PRIOR_NAME)
    try:
        settle(page)
        for tab in TABS:
            visit(page, tab)
        open_tab(page, "Latent sliders")
        page.wait_for_function("() => document.querySelectorAll('.gl-row').length === 16")  # its VAE's latent
        open_tab(page, "Edit attributes")
        page.locator("#genlab-edit-button").click()
        settle(page)
        no_errors(page, "Edit attributes, after the button")
        page.locator("#genlab-edit-strip img").first.wait_for()
    finally:
        page.close()
