"""Slider latency: from a slider's `input` event to the changed image on screen, in real Chromium.

Every shipped VAE and GAN (checkpoints/*-vae-*, *-gan-*) in Genlab's "Latent sliders" tab (the
decoder runs in the browser, static/decoder.js, and draws to a <canvas>), each in an app serving
that checkpoint alone, against the plain Gradio app of bench/plain_gradio_slider.py (slider ->
server-side VAE decoder -> gr.Image) as the anchor, all in one run and one browser. Timed inside
the page, after warm-up, with two probes:

  synthetic: a script sets the slider's value and fires `input` (at a random phase of the frame
             clock), then waits for the frame that shows the new image: the canvas was drawn
             (ours) or the <img> src changed and loaded (plain Gradio), then requestAnimationFrame.
  drag:      real mouse drags through Playwright, one move at a time (the next move starts once the
             previous image is shown), timed from the first `input` event of the move the same way.

Also per model: the decode alone in the page (warm, 200 decodes) with decoder.js's WebAssembly SIMD
kernel and with its plain JavaScript fallback (the decoder as it was before the kernel), and a fast
drag (mouse moves sent back to back, several per frame) that counts how many frames the picture
falls behind the slider: every `input` must be drawn before the second frame after it starts.

A classroom's laptops run JavaScript several times slower: every probe runs unthrottled and again
with Chromium's CPU throttled `--throttle` times (Emulation.setCPUThrottlingRate over CDP), ours and
plain Gradio alike, in the same run; `--repeats` runs each probe that many times (pooled
percentiles, and the spread of the repeats' medians).

Every figure comes with the machine's load average when it was measured. Writes the section
"slider-latency" of BENCHMARKS.md (bench/report.py); bench/serving.py uses the helpers here too.

    .venv/bin/python bench/slider_latency.py                    # 200 moves per probe and model, 1x and 4x
    .venv/bin/python bench/slider_latency.py --moves 40 --no-write --models mnist-gan-32 --throttle 6
"""

from __future__ import annotations

import argparse
import contextlib
import json
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
KERNEL_WASM = REPO / "genlab" / "ui" / "static" / "decoder_kernel.wasm"
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


# In-page synthetic probe: set the slider's value, fire `input`, wait for the frame that shows the
# new image. Resolves to {lat: [ms], timeouts, unchanged: draws whose pixels did not change}.
SYNTHETIC = """async ([selector, kind, count, warmup]) => {
  const slider = document.querySelector(selector);
  const canvas = document.querySelector('.gl-canvas');
  const plainImg = () => document.querySelector('#plain-image img');
  const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const pixels = () => { const c = canvas.getContext('2d');
                         return Array.from(c.getImageData(0, 0, canvas.width, canvas.height).data).join(); };
  const renders = () => +(canvas.dataset.renders || 0);
  const lo = +slider.min, hi = +slider.max, step = (hi - lo) / 40;
  let value = +slider.value, dir = 1, timeouts = 0, unchanged = 0;
  const lat = [];
  for (let k = 0; k < count + warmup; k++) {
    await sleep(25 + Math.random() * 17);  // idle between changes, at a random phase of the frame clock
    if (value + dir * step > hi || value + dir * step < lo) dir = -dir;
    value = Math.round((value + dir * step) * 100) / 100;
    const before = kind === 'canvas' ? renders() : (plainImg() || {}).src;
    const beforePixels = kind === 'canvas' ? pixels() : null;
    const t0 = performance.now();
    slider.value = String(value);
    slider.dispatchEvent(new Event('input', { bubbles: true }));
    let shown = false;
    while (!shown && performance.now() - t0 < 5000) {
      await frame();  // runs in the frame's requestAnimationFrame callbacks, before its paint
      const img = kind === 'canvas' ? null : plainImg();
      shown = kind === 'canvas' ? renders() > before : !!img && img.src !== before && img.complete && img.naturalWidth > 0;
    }
    const t = performance.now();
    if (!shown) { timeouts += 1; continue; }
    if (k < warmup) continue;
    lat.push(t - t0);
    if (kind === 'canvas' && pixels() === beforePixels) unchanged += 1;
  }
  return { lat, timeouts, unchanged };
}"""

# In-page record of a fast drag: every `input` of the slider (its sequence number and time), every
# draw of the canvas (with the last input it includes) and every frame (requestAnimationFrame).
LAG_RECORDER = """(selector) => {
  const b = window.__lag = { inputs: [], draws: [], frames: [], seq: 0, on: true };
  document.addEventListener('input', (e) => {
    if (e.target.matches(selector)) { b.seq += 1; b.inputs.push(performance.now()); }
  }, true);
  document.querySelector('.gl-canvas').addEventListener('genlab-draw', () => b.draws.push([performance.now(), b.seq]));
  const tick = () => { b.frames.push(performance.now()); if (b.on) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""

# Decode time alone, in the page: `reps` samples of `batch` decodes of random latents (the page's
# clock is coarse, so decodes are timed in batches); resolves to {backend, per_decode: [ms]}.
DECODE_TIMES = """([spec, backend, reps, batch]) => {
  const net = GenlabDecoder.build(spec, {backend});
  let seed = 1;
  const rand = () => { seed = (seed * 16807) % 2147483647; return (seed / 2147483647) * 6 - 3; };
  const zs = Array.from({length: 16}, () => Array.from({length: spec.latent_dim}, rand));
  for (let i = 0; i < 20; i++) net.decode(zs[i % 16]);
  const perDecode = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) net.decode(zs[(r * batch + i) % 16]);
    perDecode.push((performance.now() - t0) / batch);
  }
  return {backend: net.backend, per_decode: perDecode};
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


@contextlib.contextmanager
def serve_checkpoint(checkpoint: Path, logs: Path):
    """The URL of our app serving `checkpoint` alone (a read-only copy in a temporary folder)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "checkpoints"
        shutil.copytree(checkpoint, root / checkpoint.name,
                        ignore=shutil.ignore_patterns("samples", ".*", "training_state.safetensors"))
        port = free_port()
        with serve([__file__, "--serve", "ours", str(root), str(port)], port,
                   logs / f"ours-{checkpoint.name}.log") as url:
            yield url


def measure_ours(browser, checkpoint: Path, moves: int, warmup: int, logs: Path) -> dict:
    """Our sliders on an app that serves `checkpoint` alone (a read-only copy in a temporary folder)."""
    with serve_checkpoint(checkpoint, logs) as url:
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
        from genlab.ui.shell import configure_queue
        from genlab.store import ModelStore

        demo, extra = build_app(ModelStore.load(path)), launch_kwargs()
        configure_queue(demo)
    else:
        sys.path.insert(0, str(REPO / "bench"))
        from plain_gradio_slider import build

        demo, extra = build(path), {}
        demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, max_file_size="10mb", **extra)


def load_average() -> float:
    """The machine's 1-minute load average now (other workers share its 2 cores)."""
    return os.getloadavg()[0]


def synthetic(page, slider_selector: str, kind: str, count: int, warmup: int) -> dict:
    """The synthetic probe (SYNTHETIC) on the page's first `slider_selector`; latencies in ms."""
    r = page.evaluate(SYNTHETIC, [slider_selector, kind, count, warmup])
    return {"lat": r["lat"], "timeouts": r["timeouts"], "unchanged": r["unchanged"]}


def fast_drag_lag(page, slider_selector: str, sweeps: int = 4, steps: int = 60) -> dict:
    """Drag the slider end to end `sweeps` times with mouse moves sent back to back; for every
    `input`, count the frames that start after it and before the canvas is drawn with it.

    0: drawn before the next frame starts (shown in that frame); 1: drawn during the next frame's
    animation callbacks (shown in it, one frame later); more would be a backlog."""
    page.evaluate(LAG_RECORDER, slider_selector)
    box = page.locator(slider_selector).first.bounding_box()
    y, left, right = box["y"] + box["height"] / 2, box["x"] + 4, box["x"] + box["width"] - 4
    page.mouse.move((left + right) / 2, y)
    page.mouse.down()
    for k in range(sweeps):
        page.mouse.move(right if k % 2 == 0 else left, y, steps=steps)
    page.mouse.up()
    page.wait_for_timeout(200)
    b = page.evaluate("() => { window.__lag.on = false; return window.__lag; }")
    frames = np.asarray(b["frames"])
    behind, undrawn = [], 0
    for seq, t_in in enumerate(b["inputs"], start=1):
        drawn = next((t for t, covered in b["draws"] if covered >= seq and t >= t_in), None)
        if drawn is None:
            undrawn += 1
            continue
        behind.append(int(((frames > t_in) & (frames < drawn)).sum()))
    return {"inputs": len(b["inputs"]), "draws": len(b["draws"]), "frames": len(b["frames"]),
            "max_behind": max(behind, default=0), "behind_1": sum(1 for n in behind if n == 1), "undrawn": undrawn}


def decode_times(page, spec: dict, backend: str, reps: int = 20, batch: int = 5) -> dict:
    """Decode time alone in the page with decoder.js's `backend` ("wasm" or "js"), ms per decode."""
    r = page.evaluate(DECODE_TIMES, [spec, backend, reps, batch])
    if r["backend"] != backend:
        raise RuntimeError(f"decoder.js ran {r['backend']} instead of {backend}")
    return {"median": float(np.median(r["per_decode"])), "n": reps * batch}


def throttle(page, rate: float) -> None:
    """Slow the page's main thread `rate` times (Chromium's DevTools CPU throttling; 1 = none)."""
    cdp = getattr(page, "_bench_cdp", None) or page.context.new_cdp_session(page)
    page._bench_cdp = cdp
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": float(rate)})


def probes(page, selector: str, kind: str, moves: int, warmup: int, repeats: int) -> dict:
    """Both probes `repeats` times each (alternating), with the load when each started."""
    out = {"synthetic": {"lat": [], "timeouts": 0, "unchanged": 0, "medians": [], "load": []},
           "drag": {"lat": [], "timeouts": 0, "medians": [], "load": []}}
    for _ in range(repeats):
        for name in ("synthetic", "drag"):
            wait_until_quiet(page)
            load = load_average()
            r = (synthetic if name == "synthetic" else drag)(page, selector, kind, moves, warmup)
            o = out[name]
            o["lat"] += r["lat"]
            o["timeouts"] += r["timeouts"]
            o["unchanged"] = o.get("unchanged", 0) + r.get("unchanged", 0)
            o["medians"].append(float(np.median(r["lat"])) if r["lat"] else float("nan"))
            o["load"].append(load)
    return out


def measure_model(browser, checkpoint: Path, moves: int, warmup: int, logs: Path, rates: list[float],
                  repeats: int = 1, log=print) -> dict:
    """Every probe on our sliders for `checkpoint` at every throttling rate, in an app serving it alone."""
    from genlab.checkpoints import load_checkpoint
    from genlab.webdecoder import export_decoder

    spec = json.loads(json.dumps(export_decoder(load_checkpoint(checkpoint).model.eval())))
    with serve_checkpoint(checkpoint, logs) as url:
        page = open_quietly(browser, url)
        try:
            open_sliders(page)
            selector = ".gl-dims input[type=range]"
            out = {"model": checkpoint.name, "label": page.evaluate(
                "() => document.querySelector('.gl-dims .gl-name').textContent"), "rates": {}}
            out["page_backend"] = page.evaluate(
                "() => window.__genlabDecoders ? Promise.all([...window.__genlabDecoders.values()])"
                ".then(nets => nets.map(n => n.backend + (n.kernels ? ' ' + n.kernels.join('/') : '')).join(','))"
                " : 'unknown'")
            for rate in rates:
                throttle(page, rate)
                r = {"decode_load": load_average()}
                r["decode"] = {b: decode_times(page, spec, b) for b in ("wasm", "js")}
                r.update(probes(page, selector, "canvas", moves, warmup, repeats))
                wait_until_quiet(page)
                r["lag_load"] = load_average()
                r["lag"] = fast_drag_lag(page, selector)
                out["rates"][rate] = r
                log(summary_line(out["model"], rate, r), flush=True)
            throttle(page, 1)
        finally:
            page.close()
    return out


def measure_plain(browser, checkpoint: Path, moves: int, warmup: int, logs: Path, rates: list[float],
                  repeats: int = 1, log=print) -> dict:
    """Both probes on the plain Gradio slider app (bench/plain_gradio_slider.py) for `checkpoint`, at every rate."""
    port = free_port()
    with serve([__file__, "--serve", "baseline", str(checkpoint), str(port)], port, logs / "plain-gradio.log") as url:
        page = open_quietly(browser, url)
        try:
            page.wait_for_selector("#plain-image img", timeout=60_000)
            wait_until_quiet(page)
            out = {"model": checkpoint.name, "rates": {}}
            for rate in rates:
                throttle(page, rate)
                out["rates"][rate] = probes(page, "#plain-slider input[type=range]", "img", moves, warmup, repeats)
                log(summary_line("plain Gradio " + checkpoint.name, rate, out["rates"][rate]), flush=True)
            throttle(page, 1)
        finally:
            page.close()
    return out


def summary_line(name: str, rate: float, r: dict) -> str:
    """One printed line of a model's (or plain Gradio's) results at one rate."""
    parts = [f"{name} at {rate:g}x:"]
    if "decode" in r:
        parts.append(f"decode wasm {r['decode']['wasm']['median']:.2f} ms, js {r['decode']['js']['median']:.1f} ms "
                     f"(load {r['decode_load']:.2f});")
    for probe in ("synthetic", "drag"):
        p50, p95 = percentiles(r[probe]["lat"]) if r[probe]["lat"] else (float("nan"),) * 2
        parts.append(f"{probe} p50 {p50:.1f} p95 {p95:.1f} ms (repeats' p50 {spread(r[probe]['medians'])}, "
                     f"load {spread(r[probe]['load'], 2)}, not shown: {r[probe]['timeouts']});")
    if "lag" in r:
        parts.append(f"frames behind max {r['lag']['max_behind']} over {r['lag']['inputs']} inputs "
                     f"(load {r['lag_load']:.2f})")
    return " ".join(parts)


def spread(values: list[float], digits: int = 1) -> str:
    """"a" for one value, "lo–hi" for several."""
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    return f"{lo:.{digits}f}" if len(values) == 1 or f"{lo:.{digits}f}" == f"{hi:.{digits}f}" else f"{lo:.{digits}f}–{hi:.{digits}f}"


def open_sliders(page) -> None:
    """Open the "Latent sliders" tab and wait until the panel's decoder is loaded and the page is quiet."""
    page.get_by_role("tab", name="Latent sliders").click(timeout=300_000)
    page.wait_for_function("() => document.querySelector('.gl-panel') && document.querySelector("
                           "'.gl-panel').parentElement.dataset.ready === 'true'", timeout=120_000)
    wait_until_quiet(page)


def shipped_models(names: list[str] | None = None) -> list[Path]:
    """checkpoints/*-vae-* and *-gan-* with weights whose kind is a VAE or a GAN (the sliders' models;
    a latent-diffusion prior named after its VAE is not one), or the named ones."""
    root = REPO / "checkpoints"
    if names:
        return [root / n for n in names]
    return sorted(p for pattern in ("*-vae-*", "*-gan-*") for p in root.glob(pattern)
                  if (p / "model.safetensors").exists()
                  and json.loads((p / "config.json").read_text()).get("kind") in ("vae", "gan"))


P50_GOAL_MS, P95_GOAL_MS, PLAIN_SHARE_GOAL = 16.7, 33.0, 0.2  # one frame at 60 Hz; two; 1/5 of plain Gradio


def report(models: list[dict], plain: dict, chromium: str, moves: int, warmup: int, repeats: int, command: str,
           stamp: str, uptime: str) -> str:
    """The BENCHMARKS.md section: both probes for every model and the anchor at every throttling rate,
    decode times, goals; `stamp` is bench.report.run_stamp() taken when the run started."""

    def pp(r: dict) -> tuple[float, float]:
        return percentiles(r["lat"]) if r["lat"] else (float("nan"), float("nan"))

    rates = list(plain["rates"])
    failures, tables = [], []
    for rate in rates:
        pl = plain["rates"][rate]
        ps50, ps95 = pp(pl["synthetic"])
        pd50, pd95 = pp(pl["drag"])
        rows = []
        for m in models:
            r = m["rates"][rate]
            s50, s95 = pp(r["synthetic"])
            d50, d95 = pp(r["drag"])
            share = max(s50 / ps50, d50 / pd50)
            behind = r["lag"]["max_behind"]
            rows.append(
                f"| {m['model']} ({m['label']}) | {r['decode']['wasm']['median']:.2f} | {r['decode']['js']['median']:.1f} "
                f"| {r['decode_load']:.2f} | {s50:.1f} / {s95:.1f} ({spread(r['synthetic']['medians'])}) "
                f"| {spread(r['synthetic']['load'], 2)} | {d50:.1f} / {d95:.1f} ({spread(r['drag']['medians'])}) "
                f"| {spread(r['drag']['load'], 2)} | {share:.2f} "
                f"| {behind} ({r['lag']['inputs']} inputs, {r['lag']['draws']} draws) | {r['lag_load']:.2f} |")
            for what, value, limit in (("synthetic p50", s50, P50_GOAL_MS), ("synthetic p95", s95, P95_GOAL_MS),
                                       ("drag p50", d50, P50_GOAL_MS), ("drag p95", d95, P95_GOAL_MS),
                                       ("share of plain Gradio's p50", share, PLAIN_SHARE_GOAL),
                                       ("frames behind", behind, 1)):
                if not value <= limit:
                    failures.append(f"{m['model']} at {rate:g}× {what} {value:.2f} (goal ≤ {limit:g})")
            misses = r["synthetic"]["timeouts"] + r["drag"]["timeouts"] + r["lag"]["undrawn"]
            if misses:
                failures.append(f"{m['model']} at {rate:g}×: {misses} changes never drawn")
        rows.append(f"| **Plain Gradio anchor** ({plain['model']}, server decode → gr.Image) | – | – | – "
                    f"| {ps50:.1f} / {ps95:.1f} ({spread(pl['synthetic']['medians'])}) | {spread(pl['synthetic']['load'], 2)} "
                    f"| {pd50:.1f} / {pd95:.1f} ({spread(pl['drag']['medians'])}) | {spread(pl['drag']['load'], 2)} "
                    f"| 1.00 | – | – |")
        worst = max((max(pp(m["rates"][rate]["synthetic"])[0], pp(m["rates"][rate]["drag"])[0]) for m in models),
                    default=float("nan"))
        worst95 = max((max(pp(m["rates"][rate]["synthetic"])[1], pp(m["rates"][rate]["drag"])[1]) for m in models),
                      default=float("nan"))
        title = "unthrottled" if rate == 1 else f"CPU throttled {rate:g}× (Emulation.setCPUThrottlingRate)"
        tables.append(
            f"### {title}\n\n"
            "| Model (slider) | Decode, WASM kernel (ms) | Decode, JS fallback (ms) | Load "
            "| Synthetic p50 / p95 (ms) (repeats' p50) | Load | Drag p50 / p95 (ms) (repeats' p50) | Load "
            "| p50 / plain's p50 (worse probe) | Frames behind, max | Load |\n"
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|\n" + "\n".join(rows) + "\n\n"
            f"Slowest at {rate:g}×: p50 {worst:.1f} ms, p95 {worst95:.1f} ms; plain Gradio p50 {ps50:.1f} ms "
            f"(synthetic), {pd50:.1f} ms (drag).\n")
    unchanged = sum(m["rates"][rate]["synthetic"]["unchanged"] for m in models for rate in rates)
    text = (
        "## Slider latency, every shipped model\n\n"
        f"{stamp} `uptime` at the start: {uptime}. The machine was busy with other work (2 cores shared), so "
        f"every probe carries its load and runs {repeats} time(s). Chromium {chromium} headless, `--disable-gpu` "
        f"(the CPU path), one tab at a time. Command: `{command}`.\n\n"
        "Each model runs in an app serving it alone; the anchor is the plain Gradio app of "
        "bench/plain_gradio_slider.py (every `input` goes to the server, which decodes and returns a picture). "
        "Every probe runs unthrottled and with Chromium's CPU throttled over CDP (Emulation.setCPUThrottlingRate: "
        "a classroom's slower laptops), ours and the anchor alike. "
        f"Timed inside the page, {warmup} warm-up changes not counted, {moves} counted per probe and repeat:\n\n"
        "- **synthetic**: a script sets the slider's value and fires `input` at a random phase of the frame clock, "
        "then waits for the frame that shows the new picture (canvas drawn, or `<img>` changed and loaded, then "
        "`requestAnimationFrame`);\n"
        "- **drag**: real mouse drags (Playwright), one move at a time, from the move's first `input` to the same point;\n"
        "- **decode**: `net.decode` alone in the page, median ms per decode (100 decodes in batches of 5), with "
        "decoder.js's WebAssembly SIMD kernel and with its plain JavaScript fallback;\n"
        "- **frames behind**: a fast drag (4 sweeps, 60 mouse moves each, sent back to back); for every `input`, the "
        "frames that start after it and before the canvas is drawn with it (0: shown in the frame it arrived in, "
        "1: in the next one).\n\n"
        "p50 / p95 pool the repeats; in brackets the range of the repeats' own p50. Load = the 1-minute load "
        "average when that probe started.\n\n"
        "The decoder: genlab/ui/static/decoder_kernel.c, a WebAssembly SIMD kernel of our own "
        f"({KERNEL_WASM.stat().st_size / 1024:.0f} KB, built by "
        "tools/build_decoder_kernel.py, a static file the page fetches once), runs every Linear and convolution, "
        "and the activation after it, on "
        "channels-last float32 tensors with a zero border, on weights packed once when the model loads: a dense "
        "gather (2 pixels × 16 channels per step), and for inputs that follow a ReLU (every GAN convolution; about "
        "half zeros) a sparse one that adds only each input pixel's nonzero channels, listed once per layer; both "
        "add the same products in the same order, so the picture is the model's own (within 1e-3 of PyTorch on "
        "every shipped model, tests/test_webdecoder.py). Browsers without WebAssembly SIMD, or where the kernel "
        "cannot be fetched, use the plain JavaScript decoder.\n\n" + "\n".join(tables) + "\n")
    text += (f"Goal for every model, both probes and every rate: p50 ≤ {P50_GOAL_MS:g} ms, p95 ≤ {P95_GOAL_MS:g} ms, "
             f"p50 at most {PLAIN_SHARE_GOAL:g} of plain Gradio's at the same rate in this run, never more than one "
             "frame behind. ")
    text += ("**All goals met.**" if not failures else "**Missed:** " + "; ".join(failures) + ".")
    if unchanged:
        text += f" ({unchanged} synthetic changes were drawn with the same pixels as before.)"
    return text + "\n"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        return serve_here(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="*", help="checkpoint names (default: every shipped VAE and GAN)")
    p.add_argument("--plain", default="checkpoints/fashion-mnist-vae-16", help="the plain Gradio app's VAE")
    p.add_argument("--moves", type=int, default=200, help="counted changes per probe and repeat")
    p.add_argument("--warmup", type=int, default=15)
    p.add_argument("--throttle", type=float, default=4.0,
                   help="CPU throttling rate measured besides unthrottled (1: unthrottled only)")
    p.add_argument("--repeats", type=int, default=1, help="runs of each probe per model and rate")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = p.parse_args()
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from playwright.sync_api import sync_playwright

    from bench.report import run_stamp

    stamp = run_stamp()  # the load and the commit at the start
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    command = "python bench/slider_latency.py" + "".join(f" {a}" for a in sys.argv[1:])
    rates = [1.0] + ([args.throttle] if args.throttle > 1 else [])
    logs = Path(tempfile.mkdtemp(prefix="slider-latency-"))
    models = shipped_models(args.models)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        chromium = browser.version
        print(f"Chromium {chromium}; server logs in {logs}; {uptime}", flush=True)
        plain = measure_plain(browser, REPO / args.plain, args.moves, args.warmup, logs, rates, args.repeats)
        results = [measure_model(browser, ckpt, args.moves, args.warmup, logs, rates, args.repeats) for ckpt in models]
        browser.close()
    text = report(results, plain, chromium, args.moves, args.warmup, args.repeats, command, stamp, uptime)
    print(text)
    if not args.no_write:
        from bench.report import write_section

        write_section("slider-latency", text)


if __name__ == "__main__":
    main()
