"""Take a screenshot of every tab of the app in Chromium, for the README.

    .venv/bin/python docs/screenshots.py            # writes docs/screenshots/<tab>.png
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Buttons pressed on a tab before its screenshot, so the picture shows a result.
ACTIONS = {"Interpolate": "#genlab-interpolate-button", "Edit attributes": "#genlab-edit-button"}
TABS = {
    "Sample": "sample",
    "Latent sliders": "sliders",
    "Interpolate": "interpolate",
    "Edit attributes": "attributes",
    "VAE vs GAN": "compare",
    "How a VAE works": "how-vae",
    "How a GAN trains": "how-gan",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_selector("button[role=tab]", timeout=60_000)
            page.wait_for_timeout(3000)
            for label, name in TABS.items():
                page.get_by_role("tab", name=label).click()
                page.wait_for_timeout(4000)  # let the tab's first results arrive
                if label in ACTIONS:
                    page.locator(ACTIONS[label]).first.click()
                    page.wait_for_timeout(12000)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print("wrote", OUT / f"{name}.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
