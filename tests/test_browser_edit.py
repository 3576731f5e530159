"""In real Chromium: draw on the sketchpad and interpolate; edit an attribute and see the image change."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import requests
from PIL import Image

from app_server import genlab_app  # noqa: F401 (fixture)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 180_000  # generous: the machine is shared with training jobs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*"),
]


@pytest.fixture(scope="module")
def page(genlab_app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(genlab_app)
        yield page
        browser.close()


def image_src(page, selector: str) -> str | None:
    img = page.locator(f"{selector} img").first
    return img.get_attribute("src") if img.count() else None


def wait_for_new_image(page, selector: str, old: str | None) -> str:
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelector(sel + ' img'); return i && i.src && i.src !== old; }",
        arg=[selector, old or ""], timeout=TIMEOUT_MS)
    return image_src(page, selector)


def download(src: str) -> np.ndarray:
    r = requests.get(src, timeout=30)
    r.raise_for_status()
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("L").resize((28, 28)), dtype=np.float32) / 255


def no_error_toast(page) -> None:
    toasts = page.locator(".toast-body.error")
    assert toasts.count() == 0, toasts.first.inner_text()


def test_draw_then_interpolate(page):
    page.get_by_role("tab", name="Interpolate").click()
    start = page.locator("#genlab-interpolate-start:visible").last
    start.get_by_label("Draw").check()
    start.get_by_role("button", name="Brush").first.click()  # the sketchpad draws once its brush is picked
    canvas = start.locator("canvas:visible").last
    canvas.wait_for()
    box = canvas.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.3 * w, y + 0.25 * h)
    page.mouse.down()
    for k in range(1, 11):  # a "7": across the top, then down to the left
        page.mouse.move(x + (0.3 + 0.04 * k) * w, y + 0.25 * h, steps=2)
    for k in range(1, 11):
        page.mouse.move(x + (0.7 - 0.025 * k) * w, y + (0.25 + 0.05 * k) * h, steps=2)
    page.mouse.up()

    # The picker shows what the model sees: the drawing, prepared like MNIST.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#genlab-interpolate-start')].some(g => /your drawing/.test(g.innerText))",
        timeout=TIMEOUT_MS)
    prepared = start.locator("img").last.get_attribute("src")
    assert download(prepared).max() > 0.5  # a light stroke on black

    old = image_src(page, "#genlab-interpolation-strip")
    page.locator("#genlab-interpolate-button").click()
    strip = wait_for_new_image(page, "#genlab-interpolation-strip", old)
    no_error_toast(page)
    picture = Image.open(io.BytesIO(requests.get(strip, timeout=30).content))
    assert picture.width > 5 * picture.height  # 8 frames in a row


def test_attribute_edit_changes_the_image(page):
    page.get_by_role("tab", name="Edit attributes").click()
    button = page.locator("#genlab-edit-button")
    button.click()
    first = wait_for_new_image(page, "#genlab-edited", None)
    no_error_toast(page)

    strength = page.locator("#genlab-strength input[type=number]").first
    strength.fill("-4")
    strength.press("Enter")
    button.click()
    second = wait_for_new_image(page, "#genlab-edited", first)
    no_error_toast(page)
    assert np.abs(download(first) - download(second)).max() > 1e-2  # +2.5 and -4 along "bolder" differ
