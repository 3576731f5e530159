"""Serving benchmarks: the real app, started as `python app.py`, measured from the outside.

Issue 6, items 5-8, and issue 7's load test. Each table has an anchor measured in the same run:
the plain Gradio app of bench/plain_gradio_slider.py (slider -> server decode -> gr.Image), or the
same operation unloaded.

  5. Browser latency (Chromium, timed in the page): slider -> changed image, ours vs plain Gradio
     (bench/slider_latency.py); Interpolate and Edit buttons -> result image shown.
  6. HTTP API: p50/p95 of every named endpoint (listed by /gradio_api/info) over plain HTTP:
     POST /gradio_api/call/<api_name>, then the SSE result from GET .../<event_id>.
  7. Cold start (`python app.py` to the first answered request) and resident memory (VmRSS of the
     server and its children) after warm-up and after 1,000 requests.
  8. Concurrency: 1, 5, 20 simulated users dragging sliders over HTTP; the load test: 20 clients
     for 60 s dragging and interpolating, errors and memory growth.

bench/run.py calls `sections(quick)` and writes BENCHMARKS.md. Alone:

    nice -n 10 .venv/bin/python bench/serving.py --quick
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import slider_latency  # noqa: E402
from bench.http_api import API, StreamEnded, call_api, upload_file  # noqa: E402

PYTHON = sys.executable
CHECKPOINTS = REPO / "checkpoints"
PLAIN_CHECKPOINT = CHECKPOINTS / "fashion-mnist-vae-16"  # the baseline of the existing slider numbers
RANDOM, DRAW, UPLOAD, TEST = "Random sample", "Draw", "Upload", "Test image"  # genlab.ui.inputs.SOURCES
LAUNCHED = "To create a public link"  # what Gradio prints once its launch went through
FRAME_S = 0.016  # think time of a dragging user: one request per animation frame at most

SLIDER_P50_GOAL_MS, SLIDER_P95_GOAL_MS = 16.0, 33.0
LOAD_MEMORY_GOAL = 0.10  # resident memory at the end of the load test within 10% of after warm-up


@dataclass(frozen=True)
class Plan:
    """How much of everything to measure: quick (CI smoke test, ~1 min) or full (~8 min)."""

    quick: bool
    cold_starts: int  # app starts timed (the last one stays up for the rest)
    api_reps: int  # calls per endpoint case, at most...
    api_budget_s: float  # ...or until this many seconds went by (at least one call)
    memory_requests: int  # requests between the two memory readings
    users: tuple[int, ...]  # concurrency levels
    concurrency_s: float  # seconds per level
    load_clients: int
    load_s: float
    load_warmup_s: float
    slider_moves: int
    slider_warmup: int
    button_reps: int

    @staticmethod
    def make(quick: bool) -> "Plan":
        if quick:
            return Plan(quick=True, cold_starts=1, api_reps=2, api_budget_s=0.3, memory_requests=100,
                        users=(1, 5, 20), concurrency_s=1.5, load_clients=5, load_s=5.0, load_warmup_s=1.0,
                        slider_moves=10, slider_warmup=3, button_reps=1)
        return Plan(quick=False, cold_starts=3, api_reps=20, api_budget_s=3.0, memory_requests=1000,
                    users=(1, 5, 20), concurrency_s=10.0, load_clients=20, load_s=60.0, load_warmup_s=5.0,
                    slider_moves=100, slider_warmup=15, button_reps=10)


# ----------------------------------------------------------------------------- numbers and tables


def pct(values: list[float]) -> tuple[float, float]:
    """(p50, p95) of `values`; NaN when empty."""
    if not values:
        return math.nan, math.nan
    a = np.asarray(values, dtype=np.float64)
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def ms(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(a: float, b: float) -> str:
    if not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return "–"
    r = a / b
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.2g}×"


def table(headers: list[str], rows: list[list[Any]], right: set[int] = frozenset()) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def goal(what: str, value: float, limit: float, unit: str = "ms") -> str:
    """A sentence: does `value` meet `value <= limit`, and if not, by how much does it miss."""
    if not math.isfinite(value):
        return f"{what}: not measured (goal ≤ {limit:g} {unit})."
    if value <= limit:
        return f"{what} {value:.1f} {unit} meets the goal of ≤ {limit:g} {unit}."
    return (f"{what} {value:.1f} {unit} **misses** the goal of ≤ {limit:g} {unit} by {value - limit:.1f} {unit} "
            f"({100 * (value / limit - 1):.0f}% over).")


def short(text: Any, n: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(temp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_TEMP_DIR": str(temp)}


def process_tree(pid: int) -> list[int]:
    """Process `pid` and all its live descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of process `pid` and all its descendants, in MiB."""
    total_kib = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
        except OSError:
            pass
    return total_kib / 1024


@dataclass
class Server:
    """A running app process (its own process group) and how long it took to come up."""

    name: str
    proc: subprocess.Popen
    url: str
    log: Path
    page_s: float  # Popen -> first answered GET /
    attempts: int

    def check(self) -> None:
        """Raise if the server has exited (with the end of its log)."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"the {self.name} server exited with status {self.proc.returncode}; "
                               f"the end of {self.log}: {short(self.log.read_text()[-600:], 600)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_server(name: str, args: list[str], logs: Path, temp: Path, attempts: int = 3,
                 timeout_s: float = 600) -> Server:
    """Start `python *args --port N` and wait for its page; the time is the app's cold start.

    Gradio gives up at launch when its own check of the page takes over 3 s (a busy machine); such
    a start is retried, and the attempts are reported.
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        log = logs / f"{name}-{port}.log"
        url = f"http://127.0.0.1:{port}"
        with open(log, "w") as out:
            t0 = time.perf_counter()
            proc = subprocess.Popen([PYTHON, *args, "--port", str(port)], cwd=REPO, stdout=out,
                                    stderr=subprocess.STDOUT, env=child_env(temp), start_new_session=True,
                                    preexec_fn=slider_latency.die_with_parent)
        server = Server(name, proc, url, log, math.nan, attempt)
        try:
            while proc.poll() is None and time.perf_counter() - t0 < timeout_s:
                try:
                    if requests.get(url + "/", timeout=5).ok:
                        server.page_s = time.perf_counter() - t0
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.05)
            # The page answers before Gradio's own check of it; the launch is over once the check passed
            # (Gradio then prints LAUNCHED) or failed (the process exits).
            while proc.poll() is None and time.perf_counter() - t0 < timeout_s:
                if LAUNCHED in log.read_text():
                    return server
                time.sleep(0.1)
        except BaseException:
            server.stop()
            raise
        server.stop()
    raise RuntimeError(f"{name} did not start ({attempts} attempts); the last log, {log}:\n"
                       f"{log.read_text()[-1500:]}")


# ----------------------------------------------------------------------------- the HTTP API


def call(http: requests.Session, base: str, api_name: str, data: list, session_hash: str | None = None,
         timeout: float = 600) -> tuple[str, Any, float]:
    """One event over plain HTTP -> ("complete" | "error" | "exception", payload, milliseconds)."""
    t0 = time.perf_counter()
    try:
        event, payload = call_api(base, api_name, data, session_hash, timeout, http)
    except (requests.RequestException, StreamEnded, ValueError, KeyError) as e:
        return "exception", f"{type(e).__name__}: {e}", 1000 * (time.perf_counter() - t0)
    return event, payload, 1000 * (time.perf_counter() - t0)


@dataclass(frozen=True)
class Models:
    """The shipped checkpoints the sample inputs use (found in checkpoints/, not hard-coded numbers)."""

    vae: str
    vae_dim: int
    gan: str
    gan_dim: int
    dataset: str

    @staticmethod
    def find(root: Path = CHECKPOINTS) -> "Models":
        """MNIST's VAE-16 and GAN-32 when MNIST's test images are here, else another dataset's."""
        from genlab.checkpoints import list_checkpoints, read_config
        from genlab.data import DataError, resolve_data_dir

        configs = {n: read_config(f) for n, f in list_checkpoints(root, warn=False).items()}
        usable = {n: c for n, c in configs.items()
                  if not c["model_config"].get("num_classes") or c["model_config"].get("classes_from_latent")}

        def named(kind: str, dataset: str, preferred: str) -> str | None:
            names = sorted(n for n, c in usable.items() if c["kind"] == kind and c.get("dataset") == dataset)
            return preferred if preferred in names else (names[0] if names else None)

        def has_data(dataset: str) -> bool:
            try:
                resolve_data_dir(dataset, split="test")
                return True
            except (DataError, KeyError):
                return False

        datasets = sorted({c.get("dataset", "") for c in usable.values()}, key=lambda d: (d != "mnist", d))
        pairs = [(d, named("vae", d, f"{d}-vae-16"), named("gan", d, f"{d}-gan-32")) for d in datasets]
        pairs = [p for p in pairs if p[1] and p[2]]
        if not pairs:
            raise RuntimeError(f"no dataset in {root} has both an unconditional VAE and GAN")
        dataset, vae, gan = next((p for p in pairs if has_data(p[0])), pairs[0])
        return Models(vae, usable[vae]["model_config"]["latent_dim"], gan, usable[gan]["model_config"]["latent_dim"],
                      dataset)


def drag_latent(dim: int, user: int, step: int) -> list[float]:
    """A latent as one slider is dragged back and forth: dimension `user % dim` sweeps [-3, 3]."""
    z = [0.0] * dim
    phase = step % 60
    z[user % dim] = round(-3 + 0.1 * (phase if phase <= 30 else 60 - phase) * 2, 3)
    return z


def picker(source: str = RANDOM, upload_value: Any = None, drawing: Any = None, index: int = 0, seed: int = 0) -> list:
    """The five values of one image picker (genlab.ui.inputs.ImagePicker.inputs), in the API's order."""
    return [source, upload_value, drawing, index, seed]


@dataclass
class Case:
    """Sample inputs for one endpoint; `args(i)` varies with the call number so no cache answers."""

    api: str
    label: str
    args: Callable[[int], list]
    warmup: bool = True  # one call first, not counted
    in_quick: bool = True  # measured in quick mode too (where only an endpoint's first case runs)


def api_cases(m: Models, image: dict, sketch: dict) -> list[Case]:
    """A valid call of every named endpoint (several where the model kind changes the work)."""
    d = m.dataset
    return [
        Case("sample", f"{m.vae}, 32 samples", lambda i: [m.vae, i, 32, 1.0]),
        Case("sample", f"{m.gan}, 32 samples", lambda i: [m.gan, i, 32, 1.0]),
        Case("slider_start_sample", m.vae, lambda i: [m.vae, i]),
        Case("slider_randomize", m.vae, lambda i: [m.vae]),
        Case("slider_reset", m.vae, lambda i: [m.vae]),
        Case("slider_start_dataset", f"{m.vae}, test image (encode)", lambda i: [m.vae, i, 200]),
        Case("slider_start_dataset", f"{m.gan}, test image (inversion, 200 steps)", lambda i: [m.gan, 100 + i, 200],
             warmup=False, in_quick=False),
        Case("slider_start_upload", f"{m.vae}, uploaded PNG", lambda i: [m.vae, image, 200]),
        Case("decode", f"{m.vae}, {m.vae_dim}-d latent", lambda i: [m.vae, drag_latent(m.vae_dim, 0, i)]),
        Case("decode", f"{m.gan}, {m.gan_dim}-d latent", lambda i: [m.gan, drag_latent(m.gan_dim, 0, i)]),
        Case("web_decoder", f"{m.vae} (cached export)", lambda i: [m.vae]),
        Case("prepare_input", f"{m.vae}, test image", lambda i: [m.vae, *picker(TEST, index=i)]),
        Case("interpolate_ui", f"{m.vae}, random → random, 8 steps",
             lambda i: [m.vae, *picker(RANDOM, seed=i), *picker(RANDOM, seed=1), 8, "spherical", 200]),
        Case("interpolate_ui", f"{m.gan}, random → random, 8 steps",
             lambda i: [m.gan, *picker(RANDOM, seed=i), *picker(RANDOM, seed=1), 8, "spherical", 200]),
        Case("interpolate_ui", f"{m.gan}, test image (inversion) → random",
             lambda i: [m.gan, *picker(TEST, index=200 + i), *picker(RANDOM, seed=1), 8, "spherical", 200],
             warmup=False, in_quick=False),
        Case("interpolate_compare", "VAE and GAN, random → random",
             lambda i: [m.vae, *picker(RANDOM, seed=i), *picker(RANDOM, seed=1), 8, "spherical", 200]),
        Case("attribute_choices", m.vae, lambda i: [m.vae, None]),
        Case("edit_attribute_ui", f"{m.vae}, random sample, thickness",
             lambda i: [m.vae, *picker(RANDOM, seed=i), "thickness", "mean-difference", False, 2.5, 7, 200]),
        Case("edit_attribute_ui", f"{m.gan}, random sample, thickness",
             lambda i: [m.gan, *picker(RANDOM, seed=i), "thickness", "mean-difference", False, 2.5, 7, 200]),
        Case("define_attribute", f"{m.vae}, 3 + 4 test images",
             lambda i: [m.vae, f"bench{i}", "2, 5, 14", "1, 3, 4, 6", None, None, 200]),
        Case("compare_dataset", d, lambda i: [d, i]),
        Case("compare_samples", d, lambda i: [d, i]),
        Case("compare_recompute", f"{d} (all metrics)", lambda i: [d], warmup=False, in_quick=False),
        Case("vae_dataset", d, lambda i: [d]),
        Case("vae_use_drawing", f"{m.vae}, a drawn 7", lambda i: [m.vae, sketch]),
        Case("vae_explain", f"{m.vae}, the drawn 7", lambda i: [m.vae, i, ""]),
        Case("vae_worked_example", "μ, σ, ε of the lesson", lambda i: [d, "0.5, -0.2", "0.1, 0.3", "0.5, -1.0"]),
        Case("gan_dataset", d, lambda i: [d]),
        Case("gan_training", m.gan, lambda i: [m.gan]),
        Case("gan_epoch", m.gan, lambda i: [m.gan, 1 + i % 5]),
        Case("gan_inversion", f"{d}, one test image", lambda i: [d], warmup=False, in_quick=False),
        Case("inpaint_ui", f"{m.vae} with its dataset's GAN, test image, bottom half, 4 fills × 200 steps",
             lambda i: [m.vae, *picker(TEST, index=i), "bottom half", None, 4, 200, i]),
        Case("compare_inpainting", d, lambda i: [d]),
        # The API for programs (genlab/ui/programmatic.py): the essentials only, the rest its defaults.
        Case("interpolate", f"{m.vae}, two seeds", lambda i: [m.vae, i, i + 1]),
        Case("edit_attribute", f"{m.vae}, thickness, a seed", lambda i: [m.vae, "thickness", i]),
        Case("inpaint", f"{m.gan}, a seed, bottom half, 4 fills", lambda i: [m.gan, i]),
        Case("compare", f"{d}, a seed", lambda i: [d, i]),
        Case("compare_three_way", f"{d}: VAE, GAN and diffusion measured now", lambda i: [d, i],
             warmup=False, in_quick=False),
        Case("diffusion_forward", f"{d}: a test image noised, 11 times", lambda i: [m.vae, i % 16, i]),
        Case("diffusion_reverse", f"{d}: the reverse strip and 8 samples, 10 steps", lambda i: [m.vae, i, 10]),
        Case("nearest", f"{m.gan}: a sample's 5 nearest training images", lambda i: [m.gan, i, i % 32]),
        Case("refresh_models", "nothing changed on disk", lambda i: [m.vae]),
    ]


def named_endpoints(base: str) -> list[str]:
    """The app's public endpoints, in the order /gradio_api/info lists them."""
    r = requests.get(f"{base}{API}/info", timeout=60)
    r.raise_for_status()
    return [name.lstrip("/") for name in r.json()["named_endpoints"]]


@dataclass
class Timed:
    label: str
    times: list[float] = field(default_factory=list)  # ms of the calls that completed
    errors: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def p50(self) -> float:
        return pct(self.times)[0]

    @property
    def p95(self) -> float:
        return pct(self.times)[1]


def time_calls(base: str, api: str, args: Callable[[int], list], plan: Plan, warmup: bool, label: str,
               session_hash: str) -> Timed:
    """Call `api` one at a time: up to plan.api_reps calls or plan.api_budget_s seconds."""
    out = Timed(label)
    with requests.Session() as http:
        if warmup and not plan.quick:
            event, payload, _ = call(http, base, api, args(0), session_hash)
            if event != "complete":
                out.errors.append(short(payload))
                return out
        start = time.perf_counter()
        for i in range(1, plan.api_reps + 1):
            event, payload, took = call(http, base, api, args(i), session_hash)
            if event == "complete":
                out.times.append(took)
            else:
                out.errors.append(short(payload))
                break
            if time.perf_counter() - start > plan.api_budget_s:
                break
    return out


# ----------------------------------------------------------------------------- load


@dataclass
class Load:
    """What a closed-loop load run saw, per request kind."""

    seconds: float = 0.0
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def count(self, kind: str | None = None) -> int:
        kinds = [kind] if kind else set(self.times) | set(self.errors)
        return sum(len(self.times.get(k, [])) + len(self.errors.get(k, [])) for k in kinds)

    def error_count(self, kind: str | None = None) -> int:
        return sum(len(v) for k, v in self.errors.items() if kind is None or k == kind)

    def all_times(self) -> list[float]:
        return [t for v in self.times.values() for t in v]


Request = tuple[str, str, list]  # (kind for the report, api_name, data)


def closed_loop(base: str, users: int, request: Callable[[int, int], Request], seconds: float | None = None,
                total: int | None = None, think_s: float = 0.0) -> Load:
    """`users` threads, each calling `request(user, step)` one after another (with `think_s` between
    calls) until `seconds` went by or `total` calls were started. Each user is its own session."""
    load, lock = Load(), threading.Lock()
    started = [0]
    barrier = threading.Barrier(users + 1)
    deadline = [math.inf]

    def user(u: int) -> None:
        session = f"bench-{u}-{random.getrandbits(32):08x}"
        with requests.Session() as http:
            barrier.wait()
            step = 0
            while time.perf_counter() < deadline[0]:
                with lock:
                    if total is not None and started[0] >= total:
                        return
                    started[0] += 1
                kind, api, data = request(u, step)
                event, payload, took = call(http, base, api, data, session)
                with lock:
                    if event == "complete":
                        load.times.setdefault(kind, []).append(took)
                    else:
                        load.errors.setdefault(kind, []).append(short(payload))
                step += 1
                if think_s:
                    time.sleep(think_s)

    threads = [threading.Thread(target=user, args=(u,), daemon=True) for u in range(users)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds if seconds is not None else math.inf
    for t in threads:
        t.join()
    load.seconds = time.perf_counter() - t0
    return load


class MemoryWatch:
    """Samples a process tree's resident memory every `every_s` seconds in a thread."""

    def __init__(self, pid: int, every_s: float = 1.0):
        self.pid, self.every_s, self.samples = pid, every_s, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(rss_mib(self.pid))
            self._stop.wait(self.every_s)

    def __enter__(self) -> "MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------- the browser

# In-page timing of a button: its click -> the output <img> of `outSel` has a new src and fired
# `load` -> the next animation frame. Listeners sit on the document, so re-rendered nodes count.
BUTTON_RECORDER = """([buttonSel, outSel]) => {
  const b = window.__button = {t0: null, before: null, lat: []};
  const src = () => { const i = document.querySelector(outSel + ' img'); return i ? i.src : null; };
  document.addEventListener('click', (e) => {
    if (!e.target.closest(buttonSel)) return;
    b.t0 = performance.now(); b.before = src();
  }, true);
  document.addEventListener('load', (e) => {
    if (b.t0 === null || e.target.tagName !== 'IMG' || !e.target.closest(outSel) || e.target.src === b.before) return;
    const t0 = b.t0; b.t0 = null;
    requestAnimationFrame(() => b.lat.push(performance.now() - t0));
  }, true);
}"""


def time_button(page, tab: str, picker_id: str, button: str, output: str, reps: int, first_seed: int) -> Timed:
    """Click `button` reps + 1 times (the first not counted), each with a new seed in the picker."""
    out = Timed(tab)
    page.get_by_role("tab", name=tab).first.click()
    slider_latency.wait_until_quiet(page)  # the events the page started on load and on the tab's first view
    page.evaluate(BUTTON_RECORDER, [button, output])
    group = page.locator(f"#{picker_id}:visible").last
    seed_box = group.get_by_label("Seed of the random sample")
    for k in range(reps + 1):
        seed = first_seed + k
        seed_box.fill(str(seed))
        seed_box.press("Enter")
        page.wait_for_function("([id, s]) => [...document.querySelectorAll('#' + id)].some("
                               "g => g.innerText.includes('(seed ' + s + ')'))", arg=[picker_id, seed],
                               timeout=120_000)
        done = page.evaluate("() => window.__button.lat.length")
        page.locator(button).click()
        try:
            page.wait_for_function("n => window.__button.lat.length > n", arg=done, timeout=180_000, polling=10)
        except Exception:
            toast = page.locator(".toast-body.error")
            message = toast.first.inner_text() if toast.count() else "no new image within 180 s"
            out.errors.append(short(message))
            return out
        slider_latency.wait_until_quiet(page, quiet_s=0.3)
    out.times = page.evaluate("() => window.__button.lat")[1:]
    return out


# ----------------------------------------------------------------------------- the sections


class BenchFailure(Exception):
    """Some measurements failed; `sections` holds what was measured, with the failures noted."""

    def __init__(self, message: str, sections: list[str]):
        super().__init__(message)
        self.sections = sections


def timed(log: Callable[..., Any]) -> Callable[..., Any]:
    """`log` with the seconds since this call in front of each line."""
    start = time.perf_counter()
    return lambda *args: log(f"{time.perf_counter() - start:5.0f} s", *args)


def draw_seven(path: Path) -> Path:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(im).line([(60, 60), (220, 60), (120, 240)], fill="black", width=22)
    im.save(path)
    return path


def sections(quick: bool, log: Callable[..., Any] = print) -> list[str]:
    """Run the serving benchmarks; returns the Markdown sections for BENCHMARKS.md.

    Raises BenchFailure (carrying the sections, with the failures written into them) when a part
    could not be measured.
    """
    plan = Plan.make(quick)
    log = timed(log)
    work = Path(tempfile.mkdtemp(prefix="genlab-bench-"))
    logs, temp = work / "logs", work / "gradio-tmp"
    logs.mkdir()
    temp.mkdir()
    log(f"[serving] {'quick' if quick else 'full'} run; server logs in {logs}")
    failures: list[str] = []
    out: dict[str, str] = {}
    ours_args = ["app.py"]
    plain_args = ["bench/plain_gradio_slider.py", "--checkpoint", str(PLAIN_CHECKPOINT)]

    with ExitStack() as stack:
        stack.callback(shutil.rmtree, temp, ignore_errors=True)

        # 7. Cold start: the last start of each app stays up for everything else.
        starts: dict[str, list[Server]] = {"ours": [], "plain": []}
        for name, args in (("plain", plain_args), ("ours", ours_args)):
            for k in range(plan.cold_starts):
                server = start_server(name, args, logs, temp)
                starts[name].append(server)
                log(f"[serving] {name} start {k + 1}: page after {server.page_s:.2f} s (attempt {server.attempts})")
                if k < plan.cold_starts - 1:
                    server.stop()
                else:
                    stack.callback(server.stop)
        ours, plain = starts["ours"][-1], starts["plain"][-1]
        models = Models.find()
        first_call = {}
        with requests.Session() as http:
            for name, server, api, data in (("ours", ours, "decode", [models.vae, [0.0] * models.vae_dim]),
                                            ("plain", plain, "render", [0.5])):
                t0 = time.perf_counter()
                event, payload, _ = call(http, server.url, api, data)
                first_call[name] = (time.perf_counter() - t0) if event == "complete" else math.nan
                if event != "complete":
                    failures.append(f"the first `{api}` call of {name} failed: {short(payload)}")
        memory = {name: {"idle": rss_mib(s.proc.pid)} for name, s in (("ours", ours), ("plain", plain))}

        # 6. HTTP API, one call at a time.
        api_rows, api_times = [], {}
        try:
            api_rows, api_times = api_section_rows(ours, plain, models, plan, work, log)
        except Exception as e:  # noqa: BLE001 - reported in the section
            failures.append(f"HTTP API: {type(e).__name__}: {e}")
            log(f"[serving] HTTP API failed: {e}")
        ours.check()
        plain.check()
        memory["ours"]["warm"] = rss_mib(ours.proc.pid)
        memory["plain"]["warm"] = rss_mib(plain.proc.pid)

        # 7. Memory after N requests (slider decodes from 5 users, as fast as they come back).
        for name, server, request in (("ours", ours, decode_request(models)), ("plain", plain, plain_request)):
            load = closed_loop(server.url, 5, request, total=plan.memory_requests)
            memory[name]["after"] = rss_mib(server.proc.pid)
            memory[name]["n"] = load.count()
            memory[name]["errors"] = load.error_count()
            log(f"[serving] {name}: {load.count()} requests in {load.seconds:.1f} s, "
                f"{load.error_count()} errors; RSS {memory[name]['warm']:.0f} -> {memory[name]['after']:.0f} MiB")
        ours.check()
        plain.check()
        out["start"] = start_section(starts, first_call, memory, plan)

        out["api"] = api_section(api_rows, plan) if api_rows else (
            "## HTTP API\n\nFailed: " + "; ".join(f for f in failures if f.startswith("HTTP API")) + "\n")

        # 8. Concurrency, then the load test.
        try:
            out["concurrency"] = concurrency_section(ours, plain, models, plan, log)
            out["load"] = load_section(ours, models, plan, api_times, log)
        except Exception as e:  # noqa: BLE001
            failures.append(f"load: {type(e).__name__}: {e}")
            log(f"[serving] load part failed: {e}")

        # 5. The browser, last: a page of the full app starts many events on the server (each tab's
        # start), which would still be running during the measurements over HTTP.
        try:
            out["browser"] = browser_section(ours, plain, plan, api_times, logs, log)
        except Exception as e:  # noqa: BLE001
            failures.append(f"browser: {type(e).__name__}: {short(e, 300)}")
            log(f"[serving] browser part failed: {e}")
            out["browser"] = ("## Latency in the browser\n\n"
                              f"Failed: `{type(e).__name__}: {short(e, 300)}`. Logs: {logs}.\n")

    order = ["browser", "api", "start", "concurrency", "load"]
    result = [out[k] for k in order if k in out]
    if failures:
        result.append("## Serving benchmark failures\n\n" + "\n".join(f"- {short(f, 400)}" for f in failures) + "\n")
        raise BenchFailure("; ".join(failures), result)
    return result


def decode_request(m: Models) -> Callable[[int, int], Request]:
    def request(user: int, step: int) -> Request:
        name, dim = (m.vae, m.vae_dim) if user % 2 == 0 else (m.gan, m.gan_dim)
        return "decode", "decode", [name, drag_latent(dim, user // 2, step)]
    return request


def plain_request(user: int, step: int) -> Request:
    phase = step % 80
    return "render", "render", [round(-4 + 0.1 * (phase if phase <= 40 else 80 - phase) * 2, 2)]


# -- 6. HTTP API


def api_section_rows(ours: Server, plain: Server, m: Models, plan: Plan, work: Path, log) -> tuple[list, dict]:
    """Rows of the API table (the plain Gradio anchor first), and {api or api/label: Timed}."""
    seven = draw_seven(work / "seven.png")
    image = upload_file(ours.url, seven)
    sketch = {"background": None, "layers": [], "composite": upload_file(ours.url, seven), "id": None}
    cases = api_cases(m, image, sketch)
    session = f"bench-api-{random.getrandbits(32):08x}"
    names = named_endpoints(ours.url)
    rows, timed = [], {}

    anchor = time_calls(plain.url, "render", lambda i: plain_request(0, i)[2], plan, True, "", session)
    timed["plain/render"] = anchor
    rows.append(["Plain Gradio `render` (anchor)", "slider value → server decode → gr.Image", anchor, "–"])
    log(f"[serving] plain render: p50 {ms(anchor.p50)} ms")
    for api in names:
        mine = [c for c in cases if c.api == api]
        if not mine:
            t = Timed("", note="no sample inputs in bench/serving.py: add a Case")
            rows.append([f"`{api}`", "–", t, "–"])
            continue
        for k, case in enumerate(mine):
            if plan.quick and (k > 0 or not case.in_quick):
                rows.append([f"`{api}`", case.label, Timed("", note="full run only"), "–"])
                continue
            t = time_calls(ours.url, api, case.args, plan, case.warmup, case.label, session)
            timed.setdefault(api, t)
            timed[f"{api}/{case.label}"] = t
            rows.append([f"`{api}`", case.label, t, ratio(t.p50, anchor.p50) if api == "decode" else "–"])
            log(f"[serving] {api} [{case.label}]: n={len(t.times)} p50 {ms(t.p50)} p95 {ms(t.p95)} ms"
                + (f" ERROR {t.errors[0]}" if t.errors else ""))
    return rows, timed


def api_section(rows: list, plan: Plan) -> str:
    body = []
    errors = 0
    for endpoint, label, t, vs in rows:
        if t.errors:
            errors += 1
            result = f"error: {short(t.errors[0], 100)}"
        else:
            result = t.note or "ok"
        body.append([endpoint, label, len(t.times), ms(t.p50), ms(t.p95), vs, result])
    decode = next((r[2] for r in rows if r[0] == "`decode`"), None)
    anchor = rows[0][2]
    text = ("## HTTP API\n\n"
            "Every named endpoint of the app (as `/gradio_api/info` lists them), called one at a time over plain "
            "HTTP: `POST /gradio_api/call/<api_name>`, then the result read from the SSE stream of "
            "`GET /gradio_api/call/<api_name>/<event_id>`; the time covers both. The app is `python app.py` on "
            "the shipped checkpoints. " + ("Quick run: each endpoint's first case only, and no warm-up call (first calls count); "
            if plan.quick else "Each case is called once first (not counted; slow inversions excepted), ")
            + f"then up to {plan.api_reps} times or for {plan.api_budget_s:g} s, with inputs that change "
            "between calls (seeds, latents, test images) so that no cache answers. The anchor is the plain Gradio "
            "app's `render` (the same kind of VAE decode, served the default way).\n\n")
    text += table(["Endpoint", "Inputs", "Calls", "p50 (ms)", "p95 (ms)", "p50 vs plain `render`", "Result"],
                  body, right={2, 3, 4, 5}) + "\n\n"
    if decode is not None and decode.times and anchor.times:
        text += (f"The slider decode over HTTP (`decode`, p50 {ms(decode.p50)} ms) takes "
                 f"{ratio(decode.p50, anchor.p50)} the time of plain Gradio's `render` (p50 {ms(anchor.p50)} ms). ")
    text += (f"{errors} of {len(rows)} cases ended in an error." if errors else "Every case answered without error.")
    return text + "\n"


# -- 7. cold start and memory


def start_section(starts: dict[str, list[Server]], first_call: dict, memory: dict, plan: Plan) -> str:
    rows = []
    for name, title in (("ours", "Genlab, `python app.py` (all shipped checkpoints)"),
                        ("plain", "Plain Gradio slider app (one VAE)")):
        times = [s.page_s for s in starts[name]]
        attempts = sum(s.attempts for s in starts[name]) - len(starts[name])
        rows.append([title, len(times), f"{np.median(times):.2f}", f"{min(times):.2f}–{max(times):.2f}",
                     f"{first_call[name]:.2f}" if math.isfinite(first_call[name]) else "–",
                     attempts])
    ours_s, plain_s = (float(np.median([s.page_s for s in starts[k]])) for k in ("ours", "plain"))
    text = ("## Cold start and memory\n\n"
            "Cold start: from starting the process to the first answered `GET /` (wall time, polled every 50 ms), "
            "then the first API call (`decode` / `render`). A start that Gradio itself gives up (its 3-second check "
            "of its own page, on a busy machine) is retried and counted.\n\n")
    text += table(["App", "Starts", "To first page, median (s)", "Range (s)", "Then first API call (s)",
                   "Retried starts"], rows, right={1, 2, 4, 5})
    text += f"\n\nGenlab starts in {ratio(ours_s, plain_s)} the time of the plain Gradio app.\n\n"
    rows = []
    for name, title in (("ours", "Genlab"), ("plain", "Plain Gradio")):
        mem = memory[name]
        growth = mem["after"] / mem["warm"] - 1
        rows.append([title, f"{mem['idle']:.0f}", f"{mem['warm']:.0f}", mem["n"], f"{mem['after']:.0f}",
                     f"{100 * growth:+.1f}%", mem["errors"]])
    text += ("Resident memory (VmRSS of the server process and its children, MiB): right after the start, "
             "after warm-up (the HTTP API table above), and after "
             f"{plan.memory_requests} more slider decodes (5 users at once, no pause).\n\n")
    text += table(["App", "After start", "After warm-up", "Requests", "After the requests", "Change", "Errors"],
                  rows, right={1, 2, 3, 4, 5, 6})
    ratio_warm = ratio(memory["ours"]["warm"], memory["plain"]["warm"])
    text += (f"\n\nWarm, Genlab holds {ratio_warm} the memory of the plain app: it keeps every shipped checkpoint, "
             "the test sets and the lesson data loaded.\n")
    return text


# -- 5. the browser


def browser_section(ours: Server, plain: Server, plan: Plan, api_times: dict, logs: Path, log) -> str:
    head = "## Latency in the browser\n\n"
    if not os.path.exists(slider_latency.CHROMIUM):
        return head + f"Skipped: there is no Chromium at {slider_latency.CHROMIUM}.\n"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return head + "Skipped: Playwright is not installed (`pip install -r requirements-dev.txt`).\n"

    slider_rows: list[tuple[str, str, dict]] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=slider_latency.CHROMIUM, args=slider_latency.CHROMIUM_ARGS)
        try:
            version = browser.version
            log("[serving] browser: plain Gradio slider")
            base = slider_latency.measure_baseline_at(browser, plain.url, plan.slider_moves, plan.slider_warmup)
            log("[serving] browser: our sliders in the full app")
            mine = slider_latency.measure_ours_at(browser, ours.url, plan.slider_moves, plan.slider_warmup)
            slider_rows.append(("Genlab, the full app", mine.get("model") or "default model", mine))
            if not plan.quick:  # the method of the earlier numbers: an app serving one checkpoint
                for name in ("fashion-mnist-vae-16", "mnist-gan-32"):
                    if (CHECKPOINTS / name / "model.safetensors").exists():
                        log(f"[serving] browser: our sliders, app serving {name} alone")
                        r = slider_latency.measure_ours(browser, CHECKPOINTS / name, plan.slider_moves,
                                                        plan.slider_warmup, logs)
                        slider_rows.append(("Genlab, an app serving this model alone", name, r))
            slider_rows.append(("Plain Gradio: slider → server decode → gr.Image", PLAIN_CHECKPOINT.name, base))

            log("[serving] browser: Interpolate and Edit buttons")
            page = slider_latency.open_quietly(browser, ours.url, {"width": 1400, "height": 1100})
            try:
                interp = time_button(page, "Interpolate", "genlab-interpolate-start", "#genlab-interpolate-button",
                                     "#genlab-interpolation-strip", plan.button_reps, 10)
                edit = time_button(page, "Edit attributes", "genlab-edit-image", "#genlab-edit-button",
                                   "#genlab-edited", plan.button_reps, 10)
            finally:
                page.close()
        finally:
            browser.close()

    base_p50, base_p95 = pct(base["lat"])
    rows, ours_p50, ours_p95 = [], [], []
    for title, model, r in slider_rows:
        p50, p95 = pct(r["lat"])
        l50, l95 = pct(r["load"])
        is_plain = r is base
        if not is_plain:
            ours_p50.append(p50)
            ours_p95.append(p95)
        rows.append([title, model, len(r["lat"]), ms(p50), ms(p95), f"{ms(l50)}, {ms(l95)}",
                     r["timeouts"], "1.00× (anchor)" if is_plain else ratio(p50, base_p50)])
    text = head + ("### Slider → changed image\n\n"
                   "From a slider's `input` event to the changed image on screen, measured inside the page in headless "
                   f"Chromium {version} (Playwright, real mouse drags, one move at a time, {plan.slider_warmup} "
                   "warm-up moves not counted, once the page's start-up events have ended). Ours: the canvas is drawn, then the next requestAnimationFrame. Plain "
                   "Gradio: the `<img>` src changed, `load` fired, then the next requestAnimationFrame. Goal for ours: "
                   f"p50 ≤ {SLIDER_P50_GOAL_MS:g} ms, p95 ≤ {SLIDER_P95_GOAL_MS:g} ms.\n\n")
    text += table(["App", "Model", "Moves", "p50 (ms)", "p95 (ms)", "until drawn / img `load`: p50, p95 (ms)",
                   "Moves without a new image", "p50 vs plain"], rows, right={2, 3, 4, 6, 7}) + "\n\n"
    worst50, worst95 = max(ours_p50), max(ours_p95)
    text += (goal("Slowest of ours: p50", worst50, SLIDER_P50_GOAL_MS) + " "
             + goal("p95", worst95, SLIDER_P95_GOAL_MS) + " "
             f"Plain Gradio in the same run: p50 {ms(base_p50)} ms, p95 {ms(base_p95)} ms.\n\n")

    rows = []
    for what, api_key, t in (("Interpolate (VAE, random → random, 8 steps)", "interpolate_ui", interp),
                             ("Edit attributes (VAE, thickness, 7 images)", "edit_attribute_ui", edit)):
        http = api_times.get(api_key)
        http_p50 = http.p50 if http is not None else math.nan
        if t.errors:
            rows.append([what, 0, "–", "–", "–", "–", f"error: {short(t.errors[0], 100)}"])
            continue
        rows.append([what, len(t.times), ms(t.p50), ms(t.p95), ms(http_p50), ratio(t.p50, http_p50), "ok"])
    text += ("### Button → result image\n\n"
             "From the click on the button to the new result image on screen (its `load`, then the next "
             "requestAnimationFrame), in one page of the full app with its default model, once the events the page "
             "starts on load have ended; each click with a new seed in the image picker (first click not counted). The anchor is the same call over HTTP in this run "
             "(the HTTP API table): the rest is Gradio's front end, the queue's messages and the image download.\n\n")
    text += table(["Action", "Clicks", "p50 (ms)", "p95 (ms)", "Same call over HTTP, p50 (ms)", "Browser / HTTP",
                   "Result"], rows, right={1, 2, 3, 4, 5})
    return text + "\n"


# -- 8. concurrency and the load test


def concurrency_section(ours: Server, plain: Server, m: Models, plan: Plan, log) -> str:
    rows = []
    for users in plan.users:
        results = {}
        for name, server, request in (("ours", ours, decode_request(m)), ("plain", plain, plain_request)):
            load = closed_loop(server.url, users, request, seconds=plan.concurrency_s, think_s=FRAME_S)
            results[name] = load
            p50, p95 = pct(load.all_times())
            log(f"[serving] {name}, {users} users: {load.count() / load.seconds:.1f} req/s, p50 {ms(p50)} "
                f"p95 {ms(p95)} ms, {load.error_count()} errors")
        for name, title in (("ours", "Genlab `decode` (VAE and GAN)"), ("plain", "Plain Gradio `render`")):
            load = results[name]
            p50, p95 = pct(load.all_times())
            rate = load.count() / load.seconds
            plain_rate = results["plain"].count() / results["plain"].seconds
            rows.append([users, title, load.count(), f"{rate:.1f}", ms(p50), ms(p95), load.error_count(),
                         "1.00× (anchor)" if name == "plain" else ratio(rate, plain_rate)])
    text = ("## Concurrency\n\n"
            "Simulated users dragging a slider over HTTP on loopback: each user calls the server-side slider "
            f"decode in a loop, waiting {1000 * FRAME_S:.0f} ms (one frame) between calls, for "
            f"{plan.concurrency_s:g} s per level. Genlab's users alternate between the VAE and the GAN "
            "(`decode`, one slider each); the anchor is the plain Gradio app under the same load (`render`, its "
            "default queue runs one event at a time; Genlab's runs 4). Client and servers share the machine's "
            f"{os.cpu_count()} cores.\n\n")
    text += table(["Users", "App", "Requests", "Throughput (req/s)", "p50 (ms)", "p95 (ms)", "Errors",
                   "Throughput vs plain"], rows, right={0, 2, 3, 4, 5, 6, 7})
    return text + "\n"


def load_section(ours: Server, m: Models, plan: Plan, api_times: dict, log) -> str:
    """Issue 7: clients dragging sliders and interpolating at once; errors and memory growth."""
    def request(user: int, step: int) -> Request:
        name = m.vae if user % 2 == 0 else m.gan
        if step % 11 == 2:  # every eleventh call (the first at the third) is an interpolation
            return "interpolate_ui", "interpolate_ui", [name, *picker(RANDOM, seed=user * 1000 + step),
                                                  *picker(RANDOM, seed=1), 8, "spherical", 200]
        return decode_request(m)(user, step)

    clients = plan.load_clients
    closed_loop(ours.url, clients, request, seconds=plan.load_warmup_s, think_s=FRAME_S)
    warm = rss_mib(ours.proc.pid)
    log(f"[serving] load test: {clients} clients for {plan.load_s:g} s (warm RSS {warm:.0f} MiB)")
    with MemoryWatch(ours.proc.pid) as watch:
        load = closed_loop(ours.url, clients, request, seconds=plan.load_s, think_s=FRAME_S)
    end = rss_mib(ours.proc.pid)
    growth = end / warm - 1
    peak = max(watch.samples + [end])
    log(f"[serving] load test: {load.count()} requests, {load.error_count()} errors, RSS {warm:.0f} -> {end:.0f} MiB")

    rows = []
    for kind, api_key in (("decode", "decode"), ("interpolate_ui", "interpolate_ui")):
        p50, p95 = pct(load.times.get(kind, []))
        alone = api_times.get(api_key)
        alone_p50 = alone.p50 if alone is not None else math.nan
        rows.append([f"`{kind}`", load.count(kind), f"{load.count(kind) / load.seconds:.1f}", ms(p50), ms(p95),
                     load.error_count(kind), ms(alone_p50), ratio(p50, alone_p50)])
    p50, p95 = pct(load.all_times())
    rows.append(["all", load.count(), f"{load.count() / load.seconds:.1f}", ms(p50), ms(p95), load.error_count(),
                 "–", "–"])
    text = ("## Load test\n\n"
            f"{clients} clients on loopback for {plan.load_s:g} s against `python app.py`: each drags a slider "
            f"(`decode`, one call per frame, {1000 * FRAME_S:.0f} ms apart), and every eleventh call is an "
            "interpolation instead (8 steps between two random samples); even clients use the VAE, odd ones the GAN. "
            f"{plan.load_warmup_s:g} s of the same load warm the server up before the memory reading. The anchor "
            "is each call alone (one client, the HTTP API table of this run).\n\n")
    text += table(["Call", "Requests", "Per second", "p50 (ms)", "p95 (ms)", "Errors", "Alone, p50 (ms)",
                   "Under load / alone"], rows, right={1, 2, 3, 4, 5, 6, 7}) + "\n\n"
    text += table(["Resident memory (MiB)", "After warm-up", "Peak (sampled each second)", "At the end", "Change"],
                  [["Genlab server", f"{warm:.0f}", f"{peak:.0f}", f"{end:.0f}", f"{100 * growth:+.1f}%"]],
                  right={1, 2, 3, 4}) + "\n\n"
    errors = load.error_count()
    if errors:
        first = next(v[0] for v in load.errors.values() if v)
        text += f"Errors: **{errors}** of {load.count()} requests (goal 0), the first: `{short(first, 200)}`. "
    else:
        text += f"Errors: 0 of {load.count()} requests (goal 0: met). "
    limit = 100 * LOAD_MEMORY_GOAL
    if abs(growth) <= LOAD_MEMORY_GOAL:
        text += f"Memory changed by {100 * growth:+.1f}%, within the goal of ±{limit:.0f}%.\n"
    else:
        text += (f"Memory changed by {100 * growth:+.1f}%: **misses** the goal of ±{limit:.0f}% by "
                 f"{abs(100 * growth) - limit:.1f} percentage points.\n")
    if plan.quick:
        text += "\n(Quick run: a smaller load than the issue's 20 clients for 60 s; run without `--quick` for that.)\n"
    return text


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    try:
        result = sections(args.quick)
    except BenchFailure as e:
        result = e.sections
    print("\n\n".join(result))


if __name__ == "__main__":
    main()
