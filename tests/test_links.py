"""In real Chromium: a page open queues no event, a shared link restores model, seed and tab, a bad
link opens the default view with one sentence, and Copy link writes the view into the URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from app_server import genlab_app  # noqa: F401 (fixture)

from test_browser_edit import CHROMIUM, CHROMIUM_ARGS, pytestmark  # noqa: F401 (the browser tests' marks)

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def browser(genlab_app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """A fresh page at `url`, once loaded; returns (page, list of the queue joins it sent)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    joins: list[str] = []
    page.on("request", lambda r: joins.append(r.url) if "/queue/join" in r.url else None)
    page.goto(url)
    page.wait_for_selector("#genlab-tabs [role='tab']")
    page.wait_for_timeout(1500)
    return page, joins


def selected_tab(page) -> str:
    return page.evaluate("""() => Array.from(document.querySelectorAll('#genlab-tabs [role="tab"]'))
        .find((t) => t.getAttribute('aria-selected') === 'true').innerText.trim()""")


def model_text(page) -> str:
    return page.get_by_label("Model", exact=True).first.input_value()


def seed_value(page) -> str:
    return page.get_by_label("Seed", exact=True).first.input_value()


def test_a_plain_page_open_queues_no_event(browser, genlab_app):  # noqa: F811
    page, joins = open_page(browser, genlab_app)
    assert joins == []
    assert page.inner_text("#genlab-link-note").strip() == ""
    page.close()


def test_a_link_opens_that_model_seed_and_tab(browser, genlab_app):  # noqa: F811
    page, _ = open_page(browser, genlab_app + "/?model=mnist-gan-16&seed=7&tab=Latent%20sliders")
    assert "mnist-gan-16" in model_text(page)
    assert seed_value(page) == "7"
    assert selected_tab(page) == "Latent sliders"
    page.close()


def test_a_bad_link_opens_the_default_view_with_one_sentence(browser, genlab_app):  # noqa: F811
    page, _ = open_page(browser, genlab_app + "/?model=nope&seed=-3&tab=Nowhere")
    note = page.inner_text("#genlab-link-note")
    assert "no model called “nope”" in note and "seed must be a whole number" in note and "Nowhere" in note
    assert "mnist-vae-16" in model_text(page) and seed_value(page) == "0" and selected_tab(page) == "Sample"
    page.close()


def test_copy_link_writes_the_view_into_the_url(browser, genlab_app):  # noqa: F811
    page, _ = open_page(browser, genlab_app)
    page.get_by_role("tab", name="Interpolate", exact=True).first.click()
    page.locator("#genlab-copy-link").click()
    page.wait_for_function("() => document.querySelector('#genlab-link-note').innerText.includes('http')")
    query = parse_qs(urlparse(page.url).query)
    assert query == {"model": ["mnist-vae-16"], "seed": ["0"], "tab": ["Interpolate"]}, page.url
    assert page.url in page.inner_text("#genlab-link-note")
    page.close()


def _panel_z(page) -> list[float] | None:
    return page.evaluate("""() => { const h = Array.from(document.querySelectorAll('.genlab-sliders, .genlab-sliders *'))
        .find((e) => e.genlabSliders && e.genlabSliders.z); return h ? Array.from(h.genlabSliders.z) : null; }""")


def test_a_link_restores_the_sliders_latent_and_copy_link_writes_it(browser, genlab_app):  # noqa: F811
    z = [round(0.25 * (i % 5) - 0.5, 3) for i in range(16)]
    url = genlab_app + "/?model=mnist-gan-16&tab=Latent%20sliders&z=" + ",".join(str(v) for v in z)
    page, _ = open_page(browser, url)
    page.wait_for_function("() => document.querySelector('.genlab-sliders [data-model=\"mnist-gan-16\"], "
                           "[data-model=\"mnist-gan-16\"]') !== null")
    page.wait_for_timeout(500)
    assert [round(v, 3) for v in _panel_z(page)] == z
    page.locator("#genlab-copy-link").click()
    page.wait_for_function("() => document.querySelector('#genlab-link-note').innerText.includes('http')")
    query = parse_qs(urlparse(page.url).query)
    assert [float(v) for v in query["z"][0].split(",")] == z and query["tab"] == ["Latent sliders"]
    page.close()


def test_a_z_of_the_wrong_length_is_refused_in_one_sentence(browser, genlab_app):  # noqa: F811
    page, _ = open_page(browser, genlab_app + "/?model=mnist-gan-16&tab=Latent%20sliders&z=1,2,3")
    page.wait_for_function("() => document.body.innerText.includes(\"The link's z (3 numbers) does not fit\")")
    assert len(_panel_z(page)) == 16
    page.close()
