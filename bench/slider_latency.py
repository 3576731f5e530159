"""Slider latency: from a slider's `input` event to the changed image on screen, in real Chromium.

Compares Genlab's "Latent sliders" tab (the decoder runs in the browser and draws to a <canvas>)
with a plain Gradio app (bench/plain_gradio_slider.py: slider -> server-side VAE decoder -> gr.Image).
Both are dragged with real mouse events through Playwright, one move at a time (the next move
starts once the previous image is shown), and timed inside the page:

  ours:      input event -> canvas drawn -> the next requestAnimationFrame (the frame is produced)
  baseline:  input event -> the <img> src changed and its `load` fired -> the next requestAnimationFrame
             (also reported: up to `load` alone)

Prints p50/p95. BENCHMARKS.md is written by bench/run.py, which measures this with the rest
(bench/serving.py imports these functions).

    nice -n 10 .venv/bin/python bench/slider_latency.py                # 200 moves per app
    nice -n 10 .venv/bin/python bench/slider_latency.py --moves 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# In-page recorder. `start` marks the input event; `finish` records when the image is shown.
RECORDER = """([sliderSelector, kind]) => {
  const b = window.__bench = {t0: null, lat: [], loadOnly: [], inputs: 0};
  document.addEventListener('input', (e) => {
    if (!e.target.matches(sliderSelector)) return;
    b.inputs += 1;
    if (b.t0 === null) b.t0 = e.timeStamp;  // the first input of this move
  }, true);
  const finish = (tLoad) => requestAnimationFrame(() => {
    if (b.t0 === null) return;
    b.lat.push(performance.now() - b.t0);
    b.loadOnly.push(tLoad - b.t0);
    b.t0 = null;
  });
  if (kind === 'canvas') {
    document.querySelector('.gl-canvas').addEventListener('genlab-draw', () => finish(performance.now()));
  } else {
    const box = document.querySelector('#plain-image');
    box.addEventListener('load', (e) => { if (e.target.tagName === 'IMG') finish(performance.now()); }, true);
  }
}"""


def die_with_parent() -> None:
    """For Popen(preexec_fn=...): on Linux the child gets SIGTERM when the benchmark dies, even by SIGKILL."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(args: list[str], port: int, log: Path, attempts: int = 3) -> Iterator[str]:
    """Run a server process until its page answers; yields its URL; stops it after.

    Gradio gives up at launch when its own check of the page takes over 3 s, which happens on a
    busy 2-core machine; such a start is retried.
    """
    url = f"http://127.0.0.1:{port}/"
    for attempt in range(attempts):
        with open(log, "w") as out:
            proc = subprocess.Popen([PYTHON, *args], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONPATH": str(REPO)}, preexec_fn=die_with_parent)
        deadline, up = time.time() + 600, False
        while proc.poll() is None and time.time() < deadline:
            try:
                up = requests.get(url, timeout=10).ok
            except requests.RequestException:
                pass
            if up:
                break
            time.sleep(0.5)
        if up:
            break
        proc.kill()
        proc.wait()
        if attempt == attempts - 1:
            raise RuntimeError(f"{args[0]} did not start; see {log}:\n{log.read_text()[-1500:]}")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def drag(page, slider_selector: str, kind: str, moves: int, warmup: int) -> dict:
    """Drag the slider with `moves + warmup` mouse moves, each waited for; returns latencies (ms)."""
    page.evaluate(RECORDER, [slider_selector, kind])
    box = page.locator(slider_selector).first.bounding_box()
    y = box["y"] + box["height"] / 2
    left, right = box["x"] + 4, box["x"] + box["width"] - 4
    step = (right - left) / 37  # ~0.2 latent units per move: every move changes the value
    x, direction = left + (right - left) / 2, 1
    page.mouse.move(x, y)
    page.mouse.down()
    page.wait_for_timeout(300)
    page.evaluate("() => { window.__bench.lat = []; window.__bench.loadOnly = []; window.__bench.t0 = null; }")
    timeouts = 0
    for i in range(moves + warmup):
        if i == warmup:
            page.evaluate("() => { window.__bench.lat = []; window.__bench.loadOnly = []; }")
        if not left <= x + direction * step <= right:
            direction = -direction
        x += direction * step
        done = page.evaluate("() => window.__bench.lat.length")
        page.mouse.move(x, y)
        try:
            page.wait_for_function("n => window.__bench.lat.length > n", arg=done, timeout=5000, polling=5)
        except Exception:  # the move changed nothing (or the image never came): not counted
            timeouts += 1
            page.evaluate("() => { window.__bench.t0 = null; }")
        page.wait_for_timeout(25)  # let the server and the page go idle between moves
    page.mouse.up()
    b = page.evaluate("() => window.__bench")
    return {"lat": b["lat"], "load": b["loadOnly"], "timeouts": timeouts}


def percentiles(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def open_quietly(browser, url: str, viewport: dict | None = None):
    """A new page at `url`, with the requests in flight counted (for `wait_until_quiet`)."""
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 1200})
    page.set_default_timeout(300_000)  # a busy machine loads the full app slowly
    inflight: set = set()
    page.on("request", lambda r: inflight.add(r))  # (Playwright takes Python functions, not built-ins)
    page.on("requestfinished", lambda r: inflight.discard(r))
    page.on("requestfailed", lambda r: inflight.discard(r))
    page._bench_inflight = inflight
    page.goto(url)
    return page


def wait_until_quiet(page, quiet_s: float = 1.0, timeout_s: float = 300.0) -> bool:
    """Wait until the page has had no request in flight for `quiet_s` (Gradio's heartbeat aside).

    Gradio keeps its queue's event stream open while any event of the page runs, so this waits for
    the events a page starts on load (a tab's first view, a gallery...) to end before timing.
    """
    inflight = page._bench_inflight
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        busy = any("/heartbeat/" not in r.url for r in list(inflight))
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return True
        page.wait_for_timeout(100)
    return False


def measure_ours_at(browser, url: str, moves: int, warmup: int) -> dict:
    """Drag the first slider of the "Latent sliders" tab of the app at `url` (its default model)."""
    page = open_quietly(browser, url)
    try:
        page.get_by_role("tab", name="Latent sliders").click(timeout=300_000)
        page.wait_for_function("() => document.querySelector('.gl-panel') && document.querySelector("
                               "'.gl-panel').parentElement.dataset.ready === 'true'", timeout=120_000)
        wait_until_quiet(page)
        result = drag(page, ".gl-dims input[type=range]", "canvas", moves, warmup)
        result["label"] = page.evaluate("() => document.querySelector('.gl-dims .gl-name').textContent")
        result["model"] = page.evaluate("() => { const p = document.querySelector('.gl-panel');"
                                        " return p && p.parentElement.dataset.model || null; }")
    finally:
        page.close()
    return result


def measure_baseline_at(browser, url: str, moves: int, warmup: int) -> dict:
    """Drag the slider of the plain Gradio app (bench/plain_gradio_slider.py) at `url`."""
    page = open_quietly(browser, url)
    try:
        page.wait_for_selector("#plain-image img", timeout=60_000)
        wait_until_quiet(page)
        result = drag(page, "#plain-slider input[type=range]", "img", moves, warmup)
    finally:
        page.close()
    return result


def measure_ours(browser, checkpoint: Path, moves: int, warmup: int, logs: Path) -> dict:
    """Our sliders on an app that serves `checkpoint` alone (a read-only copy in a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "checkpoints"
        shutil.copytree(checkpoint, root / checkpoint.name,
                        ignore=shutil.ignore_patterns("samples", ".*", "training_state.safetensors"))
        port = free_port()
        with serve([__file__, "--serve", "ours", str(root), str(port)], port,
                   logs / f"ours-{checkpoint.name}.log") as url:
            return measure_ours_at(browser, url, moves, warmup)


def measure_baseline(browser, checkpoint: Path, moves: int, warmup: int, logs: Path) -> dict:
    port = free_port()
    with serve([__file__, "--serve", "baseline", str(checkpoint), str(port)], port,
               logs / "plain-gradio.log") as url:
        return measure_baseline_at(browser, url, moves, warmup)


def serve_here(which: str, path: str, port: int) -> None:
    """Child process: launch our app (as app.py does) or the baseline, on `port`.

    Gradio refuses to start when its own 3-second check of the page fails, which happens on a busy
    2-core machine; the check is skipped here (the bench waits for the page itself).
    """
    import gradio.networking

    gradio.networking.url_ok = lambda url: True
    sys.path.insert(0, str(REPO))
    if which == "ours":
        from genlab.ui.app import build_app, launch_kwargs
        from genlab.ui.store import ModelStore

        demo, extra = build_app(ModelStore.load(path)), launch_kwargs()
        demo.queue(default_concurrency_limit=4)
    else:
        sys.path.insert(0, str(REPO / "bench"))
        from plain_gradio_slider import build

        demo, extra = build(path), {}
        demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, max_file_size="10mb", **extra)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        return serve_here(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vae", default="checkpoints/fashion-mnist-vae-16")
    p.add_argument("--gan", default="checkpoints/mnist-gan-32", help="measured too when it exists")
    p.add_argument("--moves", type=int, default=200)
    p.add_argument("--warmup", type=int, default=15)
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    logs = Path(tempfile.mkdtemp(prefix="slider-latency-"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        print(f"Chromium {browser.version}; server logs in {logs}", flush=True)
        runs = [("Genlab sliders, in-browser decoder", "ours", REPO / args.vae)]
        if (REPO / args.gan / "model.safetensors").exists():
            runs.append(("Genlab sliders, in-browser decoder", "ours", REPO / args.gan))
        runs.append(("Plain Gradio: slider -> server decode -> gr.Image", "baseline", REPO / args.vae))
        for title, kind, ckpt in runs:
            measure = measure_ours if kind == "ours" else measure_baseline
            r = measure(browser, ckpt, args.moves, args.warmup, logs)
            p50, p95 = percentiles(r["lat"])
            l50, l95 = percentiles(r["load"])
            print(f"{title} [{ckpt.name}]: n={len(r['lat'])} p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                  f"(until {'drawn' if kind == 'ours' else 'img load'}: p50 {l50:.1f}, p95 {l95:.1f}; "
                  f"moves without a new image: {r['timeouts']})", flush=True)
        browser.close()


if __name__ == "__main__":
    main()
