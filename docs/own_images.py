"""The README's "Your own images" picture: the app on a folder's checkpoints alone, editing one of the
folder's held-out pictures along the class attribute between its two sub-folders.

    .venv/bin/python docs/own_images.py CHECKPOINTS MODEL "discs → squares" --test-image 0 --strength 4
    # writes docs/screenshots/own-images.png

CHECKPOINTS holds the checkpoints trained on the folder (and nothing else); MODEL is the one shown.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshots import CHROMIUM, CHROMIUM_ARGS, OUT, ROOT, free_port, wait_for  # noqa: E402

TIMEOUT_MS = 600_000


def settle(page) -> None:
    """Wait until no event runs (Gradio marks outputs pending while their event runs)."""
    time.sleep(1.0)
    page.wait_for_function("() => !document.querySelector('.pending, .generating, .eta-bar, .progress-text')",
                           timeout=TIMEOUT_MS)
    time.sleep(0.5)


def choose(page, label: str, option_text: str) -> None:
    """Pick the option holding `option_text` in the visible dropdown called `label`."""
    page.get_by_label(label, exact=True).locator("visible=true").first.click()
    page.get_by_role("option").filter(has_text=option_text).locator("visible=true").first.click()
    settle(page)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints")
    p.add_argument("model")
    p.add_argument("attribute", help="the label of the attribute in the list, e.g. 'discs → squares'")
    p.add_argument("--test-image", type=int, default=3, help="which of the shown test images to edit")
    p.add_argument("--strength", type=float, default=2.5)
    p.add_argument("--out", default=str(OUT / "own-images.png"))
    args = p.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--checkpoints",
                               args.checkpoints], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url, timeout=900)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            settle(page)
            choose(page, "Model", args.model)
            page.get_by_role("tab", name="Edit attributes", exact=True).first.click()
            settle(page)
            choose(page, "Attribute", args.attribute)
            picker = page.locator("#genlab-edit-image")
            picker.get_by_label("Test image", exact=True).check()
            settle(page)
            picker.locator(".thumbnail-item, button.thumbnail-item, .grid-wrap button").locator(
                "visible=true").nth(args.test_image).click()
            settle(page)
            strength = page.locator("#genlab-strength input[type=number]").first
            strength.fill(str(args.strength))
            strength.press("Enter")
            page.locator("#genlab-edit-button").click()
            settle(page)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.locator("#genlab-edit-image").locator("xpath=ancestor::div[contains(@class,'row')][1]").first \
                .screenshot(path=args.out)
            browser.close()
        print(f"wrote {args.out}")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
