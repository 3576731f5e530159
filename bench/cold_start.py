"""Cold start of the app from a fresh export of the repository, as a Space or a new clone gets it.

    python bench/cold_start.py                          # HEAD against the commit before issue 12
    python bench/cold_start.py --refs de24eca HEAD --rounds 3

For each ref: `git archive` into an empty folder, then, `--rounds` times and alternating between
the refs, start `python app.py` there with an empty HOME, the data search path (GENLAB_DATA_PATH)
inside the copy and one thread, and measure (1) process start -> the page's HTML answers (HTTP 200
on /), and (2) process start -> the page is ready in Chromium (`--disable-gpu`): every event that
runs on load has finished. Writes the "cold-start" section of BENCHMARKS.md (bench/report.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import run_stamp, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BEFORE = "de24eca"  # the last commit before the data and artefacts were shipped (issue 12)


def export(ref: str, target: Path) -> Path:
    data = subprocess.run(["git", "archive", "--format=tar", ref], cwd=REPO, check=True, capture_output=True).stdout
    target.mkdir(parents=True)
    (target.parent / f"{target.name}.tar").write_bytes(data)
    with tarfile.open(target.parent / f"{target.name}.tar") as tar:
        tar.extractall(target, filter="data")
    return target


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(copy: Path, scratch: Path, browser) -> tuple[float, float]:
    """(seconds to HTTP 200 on /, seconds to the page ready in Chromium) for one fresh process."""
    home = Path(tempfile.mkdtemp(dir=scratch))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENLAB_", "PYTHONPATH", "GRADIO_"))}
    env.update(HOME=str(home), GENLAB_DATA_PATH=str(copy / "data"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=copy, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app at {copy} exited with {proc.returncode}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.05)
        html = time.perf_counter() - start
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(600_000)
        page.goto(url)
        page.wait_for_function("() => document.querySelector('gradio-app') !== null")
        time.sleep(0.3)  # the load events start
        page.wait_for_function("() => !document.querySelector('.pending, .generating, .eta-bar, .progress-text')",
                               polling=50)
        ready = time.perf_counter() - start
        page.close()
        return html, ready
    finally:
        proc.terminate()
        proc.wait(30)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--refs", nargs="+", default=[BEFORE, "HEAD"], help="git refs to compare")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true", help="print only")
    args = p.parse_args(argv)
    from playwright.sync_api import sync_playwright

    stamp = run_stamp()
    results: dict[str, list[tuple[float, float]]] = {ref: [] for ref in args.refs}
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        copies = {ref: export(ref, Path(scratch) / f"copy-{i}") for i, ref in enumerate(args.refs)}
        shas = {ref: subprocess.run(["git", "rev-parse", "--short=12", ref], cwd=REPO, capture_output=True,
                                    text=True).stdout.strip() for ref in args.refs}
        for round_ in range(args.rounds):
            for ref in args.refs:
                html, ready = one_start(copies[ref], Path(scratch), browser)
                results[ref].append((html, ready))
                print(f"round {round_ + 1} {ref} ({shas[ref]}): HTML {html:.2f} s, page ready {ready:.2f} s",
                      flush=True)
        browser.close()
    rows = []
    for ref in args.refs:
        html = [r[0] for r in results[ref]]
        ready = [r[1] for r in results[ref]]
        rows.append(f"| `{ref}` ({shas[ref]}) | {statistics.median(html):.2f} ({min(html):.2f}–{max(html):.2f}) | "
                    f"{statistics.median(ready):.2f} ({min(ready):.2f}–{max(ready):.2f}) |")
    text = "\n".join([
        "## Cold start from a fresh export",
        "",
        f"{stamp} Command: `python {' '.join(['bench/cold_start.py', *sys.argv[1:]])}`.",
        "",
        f"`git archive` of each ref into an empty folder; `python app.py` there with an empty HOME, the data "
        f"search path inside the copy, one thread; {args.rounds} rounds alternating between the refs. "
        "Median (min–max) seconds from process start. *Page ready*: Chromium (`--disable-gpu`) has opened the "
        "page and every event that runs on load has finished (the first-load interpolation and attribute edit "
        "of HEAD included). "
        f"`{BEFORE}` is the last commit before the data and the per-checkpoint artefacts were shipped: there, the "
        "lessons and the attribute list fail without data, so less ran on load.",
        "",
        "| ref | process start → HTML (s) | process start → page ready (s) |",
        "|---|---|---|",
        *rows,
    ])
    print(text)
    if not args.no_write:
        write_section("cold-start", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
