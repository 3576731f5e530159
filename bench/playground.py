"""The Playground on the ring of 8 Gaussians: modes covered and high-quality samples, beside the papers,
and how fluid the page stays while its three models train.

Two measurements of the same JavaScript (genlab/ui/static/playground/, joined as the page joins it):

1. By script, under Node: every run kind from seeds 0..S-1 (`--seeds`), the ring measures of its
   models (2,500 samples each; a sample is high quality within 3 sigma of its nearest mode, a mode
   is covered by at least 1% of the samples) at steps 1000, 2000, 3000 (and further on the papers'
   sigma = 0.02 ring), averaged over seeds as the papers average over runs.
2. In the page, in Chromium (--disable-gpu): the app (app.py on the shipped checkpoints) opened on
   the Playground tab, the ring with the default settings from seed 0.
   a. One minute of training, the three panels' live numbers ([data-model=...]) read every 2 s:
      when each model first shows 8/8 modes and >= 80% high-quality samples, and its numbers and
      steps at 60 s.
   b. Fluidity, as issue 32 measures it: frames counted with requestAnimationFrame over 10 s while
      all the models train (after a 3 s start), and the worst gap between two frames; unthrottled
      and with Chromium's CPU throttling (CDP Emulation.setCPUThrottlingRate, `--throttle`), each
      `--repeats` times, with each model's training steps per second in the same 10 s (what the
      models learn per second of wall time).

Writes the section "playground" of BENCHMARKS.md (bench/report.py).

    nice -n 5 .venv/bin/python bench/playground.py                 # 3 seeds, Node and Chromium
    .venv/bin/python bench/playground.py --seeds 1 --no-write --throttle 4 --repeats 3
    .venv/bin/python bench/playground.py --page-only --throttle 6   # the page's measurements alone
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CORE = REPO / "genlab" / "ui" / "static" / "playground.js"  # the Node entry of the core
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# (label, dataset, preset settings, models, steps at which to measure)
ALL = ["vae", "gan", "diffusion"]
RUNS = [
    ("defaults", "ring", {}, ALL, [1000, 2000, 3000]),
    ("GAN without the R1 penalty", "ring", {"r1": 0}, ["gan"], [1000, 2000, 3000]),
    ("preset \"collapse\"", "ring", "collapse", ["gan"], [1000, 3000]),
    ("preset \"blur\" (β = 60)", "ring", "blur", ["vae"], [1000, 3000]),
    ("preset \"few-steps\" (diffusion sampled in 2 steps)", "ring", "few-steps", ["diffusion"], [1000, 3000]),
    ("defaults on the papers' ring (σ = 0.02)", "paper-ring", {}, ALL, [3000]),
    ("defaults on the papers' ring (σ = 0.02)", "paper-ring", {}, ["vae", "gan"], [12000]),
]
NAMES = {"vae": "VAE", "gan": "GAN", "diffusion": "diffusion"}

# Published ring figures (8 Gaussians; modes covered of 8, % high-quality samples). Srivastava et al.
# 2017 (VEEGAN), Table 1, 5 runs; Lin et al. 2018 (PacGAN), Table 1, 10 runs. Their "mode captured":
# nearest mode of at least one high-quality sample (ours: at least 1% of the samples).
PUBLISHED = [
    ("GAN", "VEEGAN, Table 1", "1", "99.3"),
    ("ALI", "VEEGAN, Table 1", "2.8", "0.13"),
    ("Unrolled GAN (Metz et al. 2017)", "VEEGAN, Table 1", "7.6", "35.6"),
    ("VEEGAN", "VEEGAN, Table 1", "8", "52.9"),
    ("GAN", "PacGAN, Table 1", "6.3 ± 0.5", "98.2 ± 0.2"),
    ("PacGAN2", "PacGAN, Table 1", "7.9 ± 0.1", "95.6 ± 2.0"),
]

NODE_DRIVER = r"""
const P = require(process.argv[2]);
const jobs = JSON.parse(process.argv[3]);
const out = [];
for (const job of jobs) {
  const preset = typeof job.preset === "string" ? P.PRESETS[job.preset].settings : job.preset;
  const run = new P.Playground({ ...preset, dataset: job.dataset, seed: job.seed }, [], job.models);
  const cpuMs = {};
  for (const name of job.models) cpuMs[name] = 0;
  const at = {};
  for (const stop of job.steps) {
    for (const [name, model] of Object.entries(run.models)) {
      const t0 = process.cpuUsage();
      while (model.steps < stop) model.step();
      const cpu = process.cpuUsage(t0);
      cpuMs[name] += (cpu.user + cpu.system) / 1000;
    }
    const m = run.measure();
    at[stop] = { ...m, dReal: run.gan ? run.gan.last.dReal : null };
  }
  const perStep = {};
  for (const name of job.models) perStep[name] = cpuMs[name] / run.models[name].steps;
  out.push({ ...job, at, cpuMsPerStep: perStep });
  process.stderr.write(`${job.label} seed ${job.seed} done\n`);
}
console.log(JSON.stringify(out));
"""


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"load average {os.getloadavg()[0]:.2f}"


# -- 1. by script, under Node ----------------------------------------------------------------------------

def measure_node(seeds: int, log=print) -> list[dict]:
    jobs = [{"label": label, "dataset": dataset, "preset": preset, "models": models, "steps": steps, "seed": seed,
             "key": k}
            for k, (label, dataset, preset, models, steps) in enumerate(RUNS) for seed in range(seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "driver.js"
        driver.write_text(NODE_DRIVER)
        # one process per run kind, two at a time (the machine has 2 cores)
        procs, results = [], []
        for k in range(len(RUNS)):
            mine = [j for j in jobs if j["key"] == k]
            procs.append(subprocess.Popen(["node", str(driver), str(CORE), json.dumps(mine)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            if len(procs) == 2:
                results += _collect(procs.pop(0), log)
        for p in procs:
            results += _collect(p, log)
    return results


def _collect(proc: subprocess.Popen, log) -> list[dict]:
    out, err = proc.communicate(timeout=3600)
    if proc.returncode:
        raise RuntimeError(f"node failed: {err[-2000:]}")
    log(err.strip())
    return json.loads(out)


def summarise(results: list[dict]) -> list[dict]:
    """Per run kind, step and model: mean and range over seeds of modes and high-quality share."""
    rows = []
    for k, (label, dataset, _, models, steps) in enumerate(RUNS):
        mine = [r for r in results if r["key"] == k]
        for step in steps:
            for name in models:
                at = [r["at"][str(step)] for r in mine]
                rows.append({"label": label, "dataset": dataset, "step": step, "seeds": len(mine), "model": name,
                             "modes": [a[name]["modes"] for a in at], "hq": [100 * a[name]["hq"] for a in at],
                             "passes": at[0][name]["passes"],
                             "dReal": [a["dReal"] for a in at] if name == "gan" else None,
                             "cpu_ms": statistics.mean(r["cpuMsPerStep"][name] for r in mine)})
    return rows


def spread(values: list[float], fmt: str) -> str:
    mean = statistics.mean(values)
    if len(values) == 1 or min(values) == max(values):
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


# -- 2. in the page, in Chromium ------------------------------------------------------------------------------

NUMBERS = ("() => Object.fromEntries(['vae', 'gan', 'diffusion'].map((k) =>"
           " [k, {...document.querySelector('[data-model=\"' + k + '\"]').dataset}]))")
# frames counted with requestAnimationFrame for `ms` (issue 32's probe): frames/s and the worst gap
FRAMES = """(ms) => new Promise((resolve) => {
  const times = [];
  const tick = (t) => { times.push(t); if (t - times[0] < ms) requestAnimationFrame(tick); else done(); };
  const done = () => {
    let worst = 0;
    for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i] - times[i - 1]);
    resolve({ fps: 1000 * (times.length - 1) / (times[times.length - 1] - times[0]), worstGap: worst });
  };
  requestAnimationFrame(tick);
})"""
GOAL_MODES, GOAL_HQ = 8, 0.80


def open_tab(page, name: str) -> None:
    """Open the app's tab called `name`, from the tab row or, when the row has no room, its overflow menu."""
    import re

    page.wait_for_selector("[role=tab]")
    tab = page.get_by_role("tab", name=name, exact=True).locator("visible=true")
    if tab.count():
        tab.first.click()
    else:
        page.locator(".overflow-menu button").locator("visible=true").first.click()
        page.locator(".overflow-dropdown button").filter(has_text=re.compile(f"^{re.escape(name)}$")).first.click()


def steps_now(page) -> dict:
    return {k: int(v.get("steps") or 0) for k, v in page.evaluate(NUMBERS).items()}


def restart(page, stop_at: int = 0) -> None:
    """Pause if playing, set the step to stop at, reset (seed 0, ring, defaults as selected)."""
    if page.evaluate("() => document.querySelector('#pg-status').dataset.state") == "running":
        page.click("#pg-play")
    page.fill("#pg-stop-at", str(stop_at))
    page.dispatch_event("#pg-stop-at", "change")
    page.click("#pg-reset")


def minute_on_the_ring(page, seconds: float, log=print) -> dict:
    """Train from seed 0 for `seconds`, reading the three panels every 2 s."""
    restart(page)
    reads, first_goal = [], {}
    t0 = time.monotonic()
    page.click("#pg-play")
    frames = None
    while time.monotonic() - t0 < seconds:
        if frames is None and time.monotonic() - t0 > 20:  # the page's frame rate in the middle of the minute
            frames = page.evaluate(FRAMES, 10_000)
        page.wait_for_timeout(2000)
        t = time.monotonic() - t0
        numbers = page.evaluate(NUMBERS)
        reads.append((t, numbers))
        for k, box in numbers.items():
            if k not in first_goal and box.get("modes") and int(box["modes"]) >= GOAL_MODES and float(box["hq"]) >= GOAL_HQ:
                first_goal[k] = (t, int(box["step"]))
    page.click("#pg-play")  # pause
    last = reads[-1][1]
    log(f"page, a minute on the ring: goal reached {first_goal}; at the end {last}")
    return {"seconds": seconds, "first_goal": first_goal, "last": last, "reads": len(reads), "frames": frames}


def fluidity(page, rate: float, repeats: int, log=print) -> list[dict]:
    """requestAnimationFrame over 10 s while the models train, at CPU throttling `rate`."""
    cdp = page.context.new_cdp_session(page)
    out = []
    for k in range(repeats):
        restart(page)
        page.click("#pg-play")
        page.wait_for_timeout(3000)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
        s0, t0 = steps_now(page), time.monotonic()
        frames = page.evaluate(FRAMES, 10_000)
        s1, t1 = steps_now(page), time.monotonic()
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
        page.click("#pg-play")  # pause
        sps = {name: (s1[name] - s0[name]) / (t1 - t0) for name in s0}
        out.append({"rate": rate, **frames, "sps": sps, "load": os.getloadavg()[0]})
        log(f"page, throttling {rate}x, try {k + 1}: {out[-1]}")
    cdp.detach()
    return out


def measure_page(throttle: float, repeats: int, minute: float, log=print) -> dict:
    from playwright.sync_api import sync_playwright

    from bench.slider_latency import free_port, serve

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp, \
            serve(["app.py", "--port", str(port), "--checkpoints", str(REPO / "checkpoints")], port,
                  Path(tmp) / "app.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1400})
        page.set_default_timeout(300_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        open_tab(page, "Playground")
        page.wait_for_selector("#pg-status[data-step]")
        page.select_option("#pg-dataset", "ring")
        page.fill("input[data-setting=seed]", "0")
        page.dispatch_event("input[data-setting=seed]", "change")
        out = {"chromium": browser.version, "groups": page.evaluate(
            "() => { let e = document.querySelector('.pg-root'); while (e && !e.genlabPlayground) e = e.parentElement;"
            " return e.genlabPlayground.groups; }")}
        out["minute"] = minute_on_the_ring(page, minute, log) if minute else None
        out["fluid"] = fluidity(page, 1, repeats, log) + fluidity(page, throttle, repeats, log)
        out["trainer"] = page.evaluate("() => document.querySelector('#pg-status').dataset.trainer")
        browser.close()
        if errors:
            raise RuntimeError(f"errors in the page: {errors}")
    return out


# -- 3. before and after: the same probe on the Playground of another commit -------------------------------

def harness_page(module) -> str:
    """A page with nothing but a commit's Playground panel (its head script, markup, style and js_on_load),
    as Gradio puts them in the app, so that two commits compare without two apps."""
    return (f"<html><head><style>{module.PANEL_CSS}</style><script>{module.CORE_JS}</script></head><body>"
            f"<div id=\"host\">{module.panel_html()}</div><script>(function(element) {{ {module.PANEL_JS} }})"
            "(document.getElementById('host'));</script></body></html>")


def playground_module(commit: str | None, tmp: Path):
    """genlab/ui/playground.py of `commit` (None: the working tree), loaded beside its own static files."""
    import importlib.util

    if commit is None:
        from genlab.ui import playground
        return playground
    root = tmp / commit
    root.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit, "genlab/ui/playground.py", "genlab/ui/static"], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    spec = importlib.util.spec_from_file_location(f"playground_{commit}", root / "genlab/ui/playground.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# the VAE's training steps (the VAE and the GAN step together in both commits' workers); the earlier
# commit shows them in #pg-status's data-step
VAE_STEPS = ("() => { const v = document.querySelector('[data-model=\"vae\"]');"
             " return v && v.dataset.steps ? +v.dataset.steps : +document.querySelector('#pg-status').dataset.step; }")


def compare(before: str, throttle: float, repeats: int, log=print) -> list[dict]:
    """requestAnimationFrame over 10 s, 3 s after Play, in a page with only the Playground panel: the
    commit `before` and the working tree taken in turns, unthrottled and at `throttle`."""
    from playwright.sync_api import sync_playwright

    out = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        pages = {}
        for label, commit in ((before, before), ("now", None)):
            path = Path(tmp) / f"{label}.html"
            path.write_text(harness_page(playground_module(commit, Path(tmp))))
            pages[label] = path
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for k in range(repeats):
            for label, path in pages.items():
                page = browser.new_page(viewport={"width": 1400, "height": 1400})
                page.goto(path.as_uri())
                page.wait_for_selector("#pg-status[data-step]")
                cdp = page.context.new_cdp_session(page)
                for rate in (1, throttle):
                    page.click("#pg-reset")
                    page.click("#pg-play")
                    page.wait_for_timeout(3000)
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                    s0, t0 = page.evaluate(VAE_STEPS), time.monotonic()
                    frames = page.evaluate(FRAMES, 10_000)
                    s1, t1 = page.evaluate(VAE_STEPS), time.monotonic()
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
                    page.click("#pg-play")
                    out.append({"version": label, "rate": rate, **frames, "sps": (s1 - s0) / (t1 - t0),
                                "load": os.getloadavg()[0]})
                    log(f"panel alone, {label}, throttling {rate}x, try {k + 1}: {out[-1]}")
                page.close()
        browser.close()
    return out


def compare_rows(rows: list[dict]) -> list[str]:
    lines = ["| Playground of | CPU throttling | tries | frames/s, median (min–max) | worst gap ms, median (max) "
             "| VAE (and GAN) steps/s, median | load average 1 min |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for version in dict.fromkeys(r["version"] for r in rows):
        for rate in sorted({r["rate"] for r in rows}):
            mine = [r for r in rows if r["version"] == version and r["rate"] == rate]
            fps, gaps = [r["fps"] for r in mine], [r["worstGap"] for r in mine]
            lines.append(f"| {'this commit' if version == 'now' else version} | {rate:g}× | {len(mine)} "
                         f"| {statistics.median(fps):.1f} ({min(fps):.1f}–{max(fps):.1f}) "
                         f"| {statistics.median(gaps):.0f} ({max(gaps):.0f}) | {statistics.median(r['sps'] for r in mine):.0f} "
                         f"| {spread([r['load'] for r in mine], '.1f')} |")
    return lines


# -- the report ----------------------------------------------------------------------------------------------

def fluid_rows(fluid: list[dict]) -> list[str]:
    lines = ["| CPU throttling | tries | frames/s, median (min–max) | worst gap between frames ms, median (max) "
             "| VAE steps/s | GAN steps/s | diffusion steps/s | load average 1 min |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for rate in sorted({f["rate"] for f in fluid}):
        mine = [f for f in fluid if f["rate"] == rate]
        fps = [f["fps"] for f in mine]
        gaps = [f["worstGap"] for f in mine]
        sps = {k: statistics.median(f["sps"][k] for f in mine) for k in ALL}
        lines.append(f"| {rate:g}× | {len(mine)} | {statistics.median(fps):.1f} ({min(fps):.1f}–{max(fps):.1f}) "
                     f"| {statistics.median(gaps):.0f} ({max(gaps):.0f}) | {sps['vae']:.0f} | {sps['gan']:.0f} "
                     f"| {sps['diffusion']:.0f} | {spread([f['load'] for f in mine], '.1f')} |")
    return lines


def report(rows: list[dict] | None, page: dict | None, seeds: int, command: str, load_before: str,
           load_after: str, before: list[dict] | None = None) -> str:
    from bench.report import run_stamp

    lines = [
        "## Playground: a tiny VAE, GAN and diffusion model on the ring of 8 Gaussians",
        "",
        f"{run_stamp()} Command: `{command}`. `uptime` before: {load_before}; after: {load_after}. "
        "The machine was shared with other jobs while this ran (see the load).",
        "",
        "The numbers the Playground tab shows, measured as Srivastava et al. (2017) measure them on the "
        "ring: 2,500 samples per model; a sample is high quality within 3σ of its nearest mode; a mode "
        "is covered when at least 1% of the samples are high-quality samples of it (the papers count "
        "a mode with one such sample, a weaker rule). Our ring has radius 2 like the papers' but "
        "σ = 0.1 (theirs 0.02, last rows): the tiny models, trained for seconds, do not get within "
        "3σ = 0.06 of the papers' modes. VAE samples are decoder means for z ~ N(0, I); GAN samples "
        "come from a moving average (0.99) of G; diffusion samples (flow matching, 20 Euler steps = 20 "
        "network passes a sample) from a moving average (0.99) of its network. VAE and GAN: width 32, "
        "2-d latent, batch 64, Adam 4e-3, R1 γ = 0.3; diffusion: 3 × 64 hidden units, batch 128, Adam "
        "5e-3; unless the row says otherwise.",
    ]
    if rows:
        lines += [
            "",
            f"### By script (Node {node_version()}, the same core), mean (min–max) over seeds 0–{seeds - 1}",
            "",
            "| run | model | step | modes of 8 | high quality % | passes per sample | D(x) | CPU ms/step |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            d_real = spread(r["dReal"], ".2f") if r["dReal"] else ""
            lines.append(f"| {r['label']} | {NAMES[r['model']]} | {r['step']} | {spread(r['modes'], '.1f')} "
                         f"| {spread(r['hq'], '.1f')} | {r['passes']} | {d_real} | {r['cpu_ms']:.1f} |")
        lines += ["", "Published ring figures (σ = 0.02, large MLPs trained for many thousands of steps):", "",
                  "| model | source | modes of 8 | high quality % |", "| --- | --- | ---: | ---: |"]
        lines += [f"| {m} | {s} | {a} | {b} |" for m, s, a, b in PUBLISHED]
    if page:
        groups = " and ".join("+".join(NAMES[n] for n in g) for g in page["groups"])
        lines += ["", f"### In the page (Chromium {page['chromium']}, --disable-gpu, the shipped app, seed 0)", "",
                  f"The models train in Web Workers ({groups}: one worker each; trainer: {page['trainer']}); "
                  "each posts its views as arrays and the page only draws them, each canvas when its model "
                  "sent something new."]
        m = page["minute"]
        if m:
            lines += ["", f"A minute of training on the ring with the default settings, the three panels' numbers "
                      f"read every 2 s ({m['reads']} reads):", "",
                      "| model | first read with 8/8 modes and ≥ 80% high quality: s (step) | modes at the end "
                      "| high quality % at the end | steps at the end | passes per sample |",
                      "| --- | ---: | ---: | ---: | ---: | ---: |"]
            for k in ALL:
                box, goal = m["last"][k], m["first_goal"].get(k)
                lines.append(f"| {NAMES[k]} | {f'{goal[0]:.0f} ({goal[1]})' if goal else 'not reached'} "
                             f"| {box['modes']}/{box['total']} | {100 * float(box['hq']):.1f} | {box['steps']} "
                             f"| {box['passes']} |")
            if m["frames"]:
                lines += ["", f"Frames per second while the three trained (requestAnimationFrame, 10 s from "
                          f"second 20): {m['frames']['fps']:.1f}, worst gap {m['frames']['worstGap']:.0f} ms."]
        lines += ["", "Fluidity (issue 32's probe): frames counted with requestAnimationFrame over 10 s while "
                  "the three models train (after a 3 s start), unthrottled and with Chromium's CPU throttling "
                  "(CDP Emulation.setCPUThrottlingRate); steps/s: each model's training steps in those 10 s.", ""]
        lines += fluid_rows(page["fluid"])
    if before:
        lines += ["", f"Before and after (`--before {before[0]['version']}`): the same probe in a page that holds "
                  "only the Playground panel (its head script, markup, style and js_on_load as the app has them), "
                  "the two commits taken in turns in one Chromium. The earlier commit trains the VAE and the GAN "
                  "in one worker and draws on the page's thread; this one trains three models in two workers "
                  "and draws in a third.", ""]
        lines += compare_rows(before)
    return "\n".join(lines) + "\n"


def keep_node_tables(text: str) -> str:
    """`text` with the Node tables ("### By script" up to "### In the page") of the section in BENCHMARKS.md."""
    from bench.report import BENCHMARKS, sections

    old = sections(BENCHMARKS.read_text()).get("playground", "") if BENCHMARKS.exists() else ""
    start, end = old.find("### By script"), old.find("### In the page")
    if start < 0 or end < 0:
        return text
    at = text.find("### In the page")
    note = "(The tables by script below are from the last run without --page-only; this run measured the page only.)\n\n"
    return text[:at] + note + old[start:end] + text[at:] if at >= 0 else text


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="seeds per run in the Node measurement (default 3)")
    p.add_argument("--throttle", type=float, default=4, help="Chromium's CPU throttling rate for the fluidity "
                   "probe, besides unthrottled (default 4)")
    p.add_argument("--repeats", type=int, default=3, help="tries of the fluidity probe per rate (default 3)")
    p.add_argument("--minute", type=float, default=60, help="seconds of the ring run read in the page (0: skip)")
    p.add_argument("--before", metavar="COMMIT", help="also compare frames/s with the Playground of COMMIT, "
                   "both in a page with only the panel")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    p.add_argument("--page-only", action="store_true", help="skip the Node measurement (the section keeps "
                   "the Node tables of its last run)")
    p.add_argument("--no-write", action="store_true", help="print the section, do not write BENCHMARKS.md")
    args = p.parse_args(argv)
    if not args.page_only and shutil.which("node") is None:
        print("Node.js is needed for the script measurement (apt-get install nodejs).")
        return 1
    command = "nice -n 5 .venv/bin/python bench/playground.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load_before = uptime()
    page = None
    if not args.no_browser:
        if not Path(CHROMIUM).exists():
            print("Chromium is not installed at /usr/bin/chromium; use --no-browser.")
            return 1
        page = measure_page(args.throttle, args.repeats, args.minute)  # first: the Node runs do not share the CPU
    before = compare(args.before, args.throttle, args.repeats) if args.before and not args.no_browser else None
    rows = None if args.page_only else summarise(measure_node(args.seeds))
    load_after = uptime()
    text = report(rows, page, args.seeds, command.strip(), load_before, load_after, before)
    if rows is None:
        text = keep_node_tables(text)
    print(text)
    if not args.no_write:
        from bench.report import write_section

        write_section("playground", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
