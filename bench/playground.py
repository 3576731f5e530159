"""The Playground on the ring of 8 Gaussians: modes covered and high-quality samples, beside the papers.

Two measurements of the same JavaScript (genlab/ui/static/playground.js):

1. By script, under Node: every preset run from seeds 0..S-1 (`--seeds`), the ring measures of both
   models (2,500 samples each; a sample is high quality within 3 sigma of its nearest mode, a mode
   is covered by at least 1% of the samples) at steps 1000, 2000, 3000 (and further on the papers'
   sigma = 0.02 ring), averaged over seeds as the papers average over runs.
2. In the page, in Chromium: the app (app.py on the shipped checkpoints) opened on the Playground
   tab; the default preset trained from seed 0 to step 1000, 2000, 3000 with "stop at step", then
   the collapse preset to step 1000. Per segment: the wall time of training, the numbers the page
   shows, its frames per second and training steps per second while training (its own counters,
   polled), and how well the page answers meanwhile: the lag of a 50 ms timer (p95, max) and the
   main thread's long tasks (> 50 ms).

Writes the section "playground" of BENCHMARKS.md (bench/report.py).

    nice -n 5 .venv/bin/python bench/playground.py              # 3 seeds, Node and Chromium
    .venv/bin/python bench/playground.py --seeds 1 --no-write
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

CORE = REPO / "genlab" / "ui" / "static" / "playground.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

# (label, dataset, preset settings, steps at which to measure)
RUNS = [
    ("VAE and GAN, defaults", "ring", {}, [1000, 2000, 3000]),
    ("GAN without the R1 penalty", "ring", {"r1": 0}, [1000, 2000, 3000]),
    ("preset \"collapse\"", "ring", "collapse", [1000, 3000]),
    ("preset \"blur\" (β = 60)", "ring", "blur", [1000, 3000]),
    ("defaults on the papers' ring (σ = 0.02)", "paper-ring", {}, [3000, 12000]),
]

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
  const run = new P.Playground({ ...preset, dataset: job.dataset, seed: job.seed });
  const t0 = process.cpuUsage();
  const at = {};
  for (const stop of job.steps) {
    while (run.steps < stop) run.step();
    const m = run.measure();
    at[stop] = { vae: m.vae, gan: m.gan, dReal: run.last.dReal, dFake: run.last.dFake };
  }
  const cpu = process.cpuUsage(t0);
  out.push({ ...job, at, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / run.steps });
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
    jobs = [{"label": label, "dataset": dataset, "preset": preset, "steps": steps, "seed": seed}
            for label, dataset, preset, steps in RUNS for seed in range(seeds)]
    with tempfile.TemporaryDirectory() as tmp:
        driver = Path(tmp) / "driver.js"
        driver.write_text(NODE_DRIVER)
        # one process per run kind, two at a time (the machine has 2 cores)
        procs, results = [], []
        for label, *_ in RUNS:
            mine = [j for j in jobs if j["label"] == label]
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
    """Per run kind and step: mean and range over seeds of each model's modes and high-quality share."""
    rows = []
    for label, dataset, _, steps in RUNS:
        mine = [r for r in results if r["label"] == label]
        for step in steps:
            row = {"label": label, "dataset": dataset, "step": step, "seeds": len(mine)}
            for kind in ("vae", "gan"):
                modes = [r["at"][str(step)][kind]["modes"] for r in mine]
                hq = [100 * r["at"][str(step)][kind]["hq"] for r in mine]
                row[kind] = {"modes": modes, "hq": hq}
            row["dReal"] = [r["at"][str(step)]["dReal"] for r in mine]
            row["cpu_ms"] = statistics.mean(r["cpuMsPerStep"] for r in mine)
            rows.append(row)
    return rows


def spread(values: list[float], fmt: str) -> str:
    mean = statistics.mean(values)
    if len(values) == 1 or min(values) == max(values):
        return format(mean, fmt)
    return f"{format(mean, fmt)} ({format(min(values), fmt)}–{format(max(values), fmt)})"


# -- 2. in the page, in Chromium ------------------------------------------------------------------------------

PROBE = """() => {
  const probe = window.__pgProbe = { lags: [], longTasks: [], fps: [], sps: [], drawMs: [] };
  let last = performance.now();
  probe.timer = setInterval(() => { const now = performance.now(); probe.lags.push(now - last - 50); last = now; }, 50);
  probe.poll = setInterval(() => {
    const s = document.querySelector('#pg-status').dataset;
    if (s.state === 'running') { probe.fps.push(+s.fps); probe.sps.push(+s.sps); if (s.drawMs) probe.drawMs.push(+s.drawMs); }
  }, 500);
  try {
    probe.observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) probe.longTasks.push(e.duration); });
    probe.observer.observe({ type: 'longtask', buffered: false });
  } catch (e) { probe.longTasks = null; }
}"""
PROBE_END = """() => { const p = window.__pgProbe; clearInterval(p.timer); clearInterval(p.poll);
  if (p.observer) p.observer.disconnect(); return { lags: p.lags, longTasks: p.longTasks, fps: p.fps, sps: p.sps, drawMs: p.drawMs }; }"""
NUMBERS = """() => Object.fromEntries(['vae', 'gan'].map((k) => [k, {...document.querySelector('#pg-' + k + '-numbers').dataset}]))"""


def segment(page, stop_at: int) -> dict:
    """Play until `stop_at`; the wall time, the numbers at the end, and the page's counters meanwhile."""
    page.fill("#pg-stop-at", str(stop_at))
    page.dispatch_event("#pg-stop-at", "change")
    page.evaluate(PROBE)
    t0 = time.monotonic()
    page.click("#pg-play")
    page.wait_for_function(f"() => {{ const s = document.querySelector('#pg-status').dataset;"
                           f" return s.state === 'done' && s.step === '{stop_at}'; }}", timeout=900_000, polling=50)
    seconds = time.monotonic() - t0
    probe = page.evaluate(PROBE_END)
    lags = sorted(probe["lags"]) or [0.0]
    return {
        "stop_at": stop_at, "seconds": seconds, "numbers": page.evaluate(NUMBERS),
        "fps": statistics.median(probe["fps"]) if probe["fps"] else None,
        "sps": statistics.median(probe["sps"]) if probe["sps"] else None,
        "draw_ms": statistics.median(probe["drawMs"]) if probe["drawMs"] else None,
        "lag_p95": lags[int(0.95 * (len(lags) - 1))], "lag_max": lags[-1],
        "long_tasks": None if probe["longTasks"] is None else len(probe["longTasks"]),
        "long_task_max": max(probe["longTasks"] or [0]) if probe["longTasks"] is not None else None,
        "trainer": page.evaluate("() => document.querySelector('#pg-status').dataset.trainer"),
    }


def measure_page(log=print) -> dict:
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
        page.get_by_role("tab", name="Playground").click()
        page.wait_for_selector("#pg-status[data-step]")
        version = browser.version
        out = {"chromium": version, "default": [], "collapse": []}
        page.select_option("#pg-dataset", "ring")
        page.fill("input[data-setting=seed]", "0")
        page.dispatch_event("input[data-setting=seed]", "change")
        for stop in (1000, 2000, 3000):
            out["default"].append(segment(page, stop))
            log(f"page, defaults, step {stop}: {out['default'][-1]}")
        page.select_option("#pg-preset", "collapse")
        out["collapse"].append(segment(page, 1000))
        log(f"page, collapse, step 1000: {out['collapse'][-1]}")
        browser.close()
        if errors:
            raise RuntimeError(f"errors in the page: {errors}")
    return out


# -- the report ----------------------------------------------------------------------------------------------

def report(rows: list[dict], page: dict | None, seeds: int, command: str, load_before: str, load_after: str) -> str:
    from bench.report import run_stamp

    lines = [
        "## Playground: a tiny VAE and GAN on the ring of 8 Gaussians",
        "",
        f"{run_stamp()} Command: `{command}`. `uptime` before: {load_before}; after: {load_after}.",
        "",
        "The numbers the Playground tab shows, measured as Srivastava et al. (2017) measure them on the "
        "ring: 2,500 samples per model; a sample is high quality within 3σ of its nearest mode; a mode "
        "is covered when at least 1% of the samples are high-quality samples of it (the papers count "
        "a mode with one such sample, a weaker rule). Our ring has radius 2 like the papers' but "
        "σ = 0.1 (theirs 0.02, last rows): the tiny models, trained for seconds, do not get within "
        "3σ = 0.06 of the papers' modes. VAE samples are decoder means for z ~ N(0, I); GAN samples "
        "come from a moving average (0.99) of G. Width 32, 2-d latent, batch 64, Adam 4e-3, R1 γ = 0.3 "
        "unless the row says otherwise.",
        "",
        f"### By script (Node {node_version()}, the same playground.js), mean (min–max) over seeds 0–{seeds - 1}",
        "",
        "| run | step | VAE modes of 8 | VAE high quality % | GAN modes of 8 | GAN high quality % | D(x) | CPU ms/step |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {r['step']} | {spread(r['vae']['modes'], '.1f')} | {spread(r['vae']['hq'], '.1f')} "
                     f"| {spread(r['gan']['modes'], '.1f')} | {spread(r['gan']['hq'], '.1f')} "
                     f"| {spread(r['dReal'], '.2f')} | {r['cpu_ms']:.1f} |")
    lines += ["", "Published ring figures (σ = 0.02, large MLPs trained for many thousands of steps):", "",
              "| model | source | modes of 8 | high quality % |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {m} | {s} | {a} | {b} |" for m, s, a, b in PUBLISHED]
    if page:
        lines += ["", f"### In the page (Chromium {page['chromium']}, the shipped app, seed 0)", "",
                  "Training runs in a Web Worker; the page draws the views from the worker's snapshots. "
                  "Frames per second and steps per second are the page's own counters (median of 0.5 s polls "
                  "while training); draw: the page's time to draw one frame of all views (median); timer lag: "
                  "how late a 50 ms timer fires on the page's thread, p95 / max; long tasks: the page's "
                  "thread busy for over 50 ms at a time (count, longest).",
                  "",
                  "| preset | steps | training time s | VAE modes | VAE high quality % | GAN modes | GAN high quality % "
                  "| frames/s | steps/s | draw ms | timer lag p95 / max ms | long tasks (max ms) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, segs in (("defaults", page["default"]), ("collapse", page["collapse"])):
            total = 0.0
            for s in segs:
                total += s["seconds"]
                n = s["numbers"]
                longs = "n/a" if s["long_tasks"] is None else f"{s['long_tasks']} ({s['long_task_max']:.0f})"
                lines.append(
                    f"| {name} | {s['stop_at']} | {total:.1f} | {n['vae']['modes']} | {100 * float(n['vae']['hq']):.1f} "
                    f"| {n['gan']['modes']} | {100 * float(n['gan']['hq']):.1f} | {fmt(s['fps'], '.0f')} | {fmt(s['sps'], '.0f')} "
                    f"| {fmt(s['draw_ms'], '.1f')} "
                    f"| {s['lag_p95']:.0f} / {s['lag_max']:.0f} | {longs} |")
        node0 = {r["step"]: r for r in rows if r["label"] == RUNS[0][0]}
        same = []
        for s in page["default"]:
            r = node0.get(s["stop_at"])
            if r:
                same.append(int(s["numbers"]["gan"]["modes"]) == r["gan"]["modes"][0]
                            and abs(100 * float(s["numbers"]["gan"]["hq"]) - r["gan"]["hq"][0]) < 0.01
                            and abs(100 * float(s["numbers"]["vae"]["hq"]) - r["vae"]["hq"][0]) < 0.01)
        if same:
            lines += ["", "The page's numbers at steps " + ", ".join(str(s["stop_at"]) for s in page["default"])
                      + (" equal" if all(same) else " do NOT all equal")
                      + " Node's for seed 0 (the same seed gives the same run in both engines)."]
    return "\n".join(lines) + "\n"


def fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3, help="seeds per run in the Node measurement (default 3)")
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium measurement")
    p.add_argument("--no-write", action="store_true", help="print the section, do not write BENCHMARKS.md")
    args = p.parse_args(argv)
    if shutil.which("node") is None:
        print("Node.js is needed for the script measurement (apt-get install nodejs).")
        return 1
    command = "nice -n 5 .venv/bin/python bench/playground.py" + (f" --seeds {args.seeds}" if args.seeds != 3 else "") \
        + (" --no-browser" if args.no_browser else "")
    load_before = uptime()
    page = None
    if not args.no_browser:
        if not Path(CHROMIUM).exists():
            print("Chromium is not installed at /usr/bin/chromium; use --no-browser.")
            return 1
        page = measure_page()  # first, so that the Node runs do not share the CPU with it
    rows = summarise(measure_node(args.seeds))
    load_after = uptime()
    text = report(rows, page, args.seeds, command, load_before, load_after)
    print(text)
    if not args.no_write:
        from bench.report import write_section

        write_section("playground", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
