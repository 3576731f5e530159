"""Issue 12: the committed files alone run every tab (what a Hugging Face Space or a fresh clone gets).

`git archive HEAD` goes into an empty folder; the app starts there with an empty HOME, no network
needed, and the data search path (GENLAB_DATA_PATH) pointing only inside the copy. Real Chromium
(`--disable-gpu`) opens every tab and, where a tab has a dataset choice, every dataset, and fails on
an "Error" badge, an error toast, a "not available" notice, a server path in the page, or an empty
attribute list; then interpolates and edits an attribute starting from a test image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from app_server import free_port
from conftest import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 240_000  # generous: CI shares 2 cores with the app
START_SECONDS = 240
DATASET_TABS = ("VAE vs GAN", "How a VAE works", "How a GAN trains")
ALL_TABS = ("Sample", "Latent sliders", "Interpolate", "Edit attributes", "Inpainting", *DATASET_TABS, "How diffusion works",
            "Playground")

pytestmark = [
    pytest.mark.browser, pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]


def export_head(target: Path) -> Path:
    """`git archive HEAD` unpacked into `target`; outside a git checkout (an archive already), a copy."""
    try:
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=REPO_ROOT, check=True,
                                 capture_output=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO_ROOT, target, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__"))
        return target
    target.mkdir(parents=True)
    archive_path = target.parent / "head.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    return target


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    return export_head(tmp_path_factory.mktemp("archive") / "genlab")


@pytest.fixture(scope="module")
def app_url(copy, tmp_path_factory):
    home = tmp_path_factory.mktemp("empty-home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENLAB_", "PYTHONPATH", "HF_", "GRADIO_"))}
    env.update(HOME=str(home), GENLAB_DATA_PATH=str(copy / "data"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
               TMPDIR=str(tmp_path_factory.mktemp("tmp")), XDG_CACHE_HOME=str(home / ".cache"))
    log = (home / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=copy, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited with {proc.returncode}:\n{(home / 'app.log').read_text()[-3000:]}")
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer within {START_SECONDS} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(app_url):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app_url)
        settle(page)
        yield page
        browser.close()


def settle(page) -> None:
    """Wait until no event is running (Gradio marks outputs pending while their event runs)."""
    page.wait_for_function("() => document.querySelector('gradio-app') !== null")
    time.sleep(1.0)
    page.wait_for_function(
        "() => !document.querySelector('.pending, .generating, .eta-bar, .progress-text')", timeout=TIMEOUT_MS)
    time.sleep(0.5)


def problems(page, copy: Path) -> list[str]:
    """What a visitor must never see on the visible part of the page."""
    found = page.evaluate("""() => {
        const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
        const out = [];
        for (const e of document.querySelectorAll('body *')) {
          if (!visible(e) || e.children.length) continue;
          const t = (e.textContent || '').trim();
          if (t === 'Error') out.push('an "Error" badge');
        }
        for (const e of document.querySelectorAll('.toast-body.error')) out.push('toast: ' + e.innerText);
        return out;
    }""")
    text = page.inner_text("body")
    for needle in ("not available", "Traceback", str(copy), "/usr/share/datasets", "shared/data"):
        if needle in text:
            found.append(f"the page says {needle!r}")
    return found


def open_tab(page, name: str) -> None:
    """Open the tab called `name`, from the tab row or, when the row has no room for it, its overflow menu."""
    page.wait_for_selector("[role=tab]")
    tab = page.get_by_role("tab", name=name, exact=True).locator("visible=true")
    if tab.count():
        tab.first.click()
    else:
        page.locator(".overflow-menu button").locator("visible=true").first.click()
        page.locator(".overflow-dropdown button").filter(has_text=re.compile(f"^{re.escape(name)}$")).first.click()
    settle(page)


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the visible dropdown called `label`."""
    box = page.get_by_label(label, exact=True).locator("visible=true").first
    box.click()
    page.get_by_role("option", name=option, exact=True).locator("visible=true").first.click()
    settle(page)


def test_every_tab_and_every_dataset_works_from_the_archive(page, copy):
    assert (copy / "data" / "mnist").is_dir() and not (copy / ".git").exists()
    seen = {}
    for tab in ALL_TABS:
        open_tab(page, tab)
        seen[tab] = problems(page, copy)
        if tab in DATASET_TABS:
            for dataset in ("fashion-mnist", "mnist"):  # the lessons open on MNIST: Fashion-MNIST first
                choose(page, "Dataset", dataset)
                seen[f"{tab} / {dataset}"] = problems(page, copy)
    assert {k: v for k, v in seen.items() if v} == {}


def test_edit_attributes_offers_attributes_and_shows_an_edit_on_first_load(page, copy):
    open_tab(page, "Edit attributes")
    attribute = page.locator("#genlab-attribute input").first
    assert attribute.input_value().strip() != "", "the attribute list is empty"
    assert page.locator("#genlab-edited img").count() == 1, "no edit is shown on first load"
    attribute.click()
    assert page.get_by_role("option").locator("visible=true").count() >= 10  # pixel attributes and classes
    page.keyboard.press("Escape")


def run_from_test_image(page, tab: str, picker: str, button: str, result: str) -> None:
    """In `tab`, switch the picker to "Test image", click the fourth one, press `button`, and wait
    for the `result` image to change (it already shows the first-load result)."""
    open_tab(page, tab)
    assert page.locator(f"{result} img").count() == 1, f"{tab}: no result on first load"
    old = page.locator(f"{result} img").get_attribute("src")
    box = page.locator(picker)
    box.get_by_label("Test image", exact=True).check()
    box.locator(".thumbnail-item, button.thumbnail-item, .grid-wrap button").locator("visible=true").nth(3).click()
    settle(page)
    assert "test image #" in page.inner_text(picker)
    page.locator(button).click()
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel + ' img');"
                           " return i && i.src !== old; }", arg=[result, old])
    settle(page)


def test_interpolate_and_edit_from_a_test_image(page, copy):
    run_from_test_image(page, "Interpolate", "#genlab-interpolate-start", "#genlab-interpolate-button",
                        "#genlab-interpolation-strip")
    assert problems(page, copy) == []
    run_from_test_image(page, "Edit attributes", "#genlab-edit-image", "#genlab-edit-button", "#genlab-edited")
    assert problems(page, copy) == []
