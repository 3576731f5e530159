"""A class at once (issue 26): what one page open costs the server, N pages opened together, and a
class of simulated students over plain HTTP, each beside a plain Gradio app in the same run.

1. Page open (Chromium, `--disable-gpu`): for each fresh page, the queued events it fires
   (POST .../queue/join), the server's CPU seconds (utime + stime from /proc, the server and its
   children) from navigation to ready, and the time to ready. Ready: the page has loaded and the
   network has been idle for 500 ms (every queued event answered).
2. N pages at once: N fresh pages opened together; the time until the last is ready.
3. A class: S students over plain HTTP (POST /gradio_api/call/<api_name>, then the SSE result),
   each doing a mix of the app's actions with 2-5 s of thought between them for T seconds;
   p50 / p95 per action, errors, the server's memory before and after.

    nice -n 10 .venv/bin/python bench/classroom.py       # 30 and 100 students; writes BENCHMARKS.md's section
    .venv/bin/python bench/classroom.py --quick --no-write         # a smoke run
    .venv/bin/python bench/classroom.py --students 15 20 --seconds 90 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import requests

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import slider_latency  # noqa: E402
from bench.report import run_stamp, write_section  # noqa: E402
from bench.serving import Server, pct, process_tree, rss_mib, start_server  # noqa: E402

CHROMIUM = slider_latency.CHROMIUM
CHROMIUM_ARGS = slider_latency.CHROMIUM_ARGS
SECTION = "classroom"
RANDOM = "Random sample"  # genlab.ui.inputs.RANDOM


# ----------------------------------------------------------------------------- the server's CPU


def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` and its live descendants, in seconds (from /proc)."""
    total = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- page opens


IDLE_S = 0.5  # a page is ready once it has loaded and no request but the heartbeat has been open this long


def open_pages(browser: Any, url: str, count: int, timeout_s: float = 300) -> list[dict[str, float]]:
    """Open `count` fresh pages at once (one browser context each); per page: its queued events
    and the seconds from the first navigation to its ready.

    Ready: loaded, and no request open for IDLE_S except Gradio's heartbeat (a connection each page
    keeps open for as long as it lives); so every queued event has been answered.
    """
    contexts = [browser.new_context() for _ in range(count)]
    pages = [c.new_page() for c in contexts]
    joins = [0] * count
    open_requests: list[set] = [set() for _ in range(count)]
    last_change = [time.perf_counter()] * count
    loaded = [False] * count

    def watch(i: int, page: Any) -> None:
        def started(r: Any) -> None:
            if "/heartbeat/" in r.url:
                return
            joins[i] += "/queue/join" in r.url
            open_requests[i].add(r)
            last_change[i] = time.perf_counter()

        def ended(r: Any) -> None:
            open_requests[i].discard(r)
            last_change[i] = time.perf_counter()

        page.on("request", started)
        page.on("requestfinished", ended)
        page.on("requestfailed", ended)
        page.on("load", lambda: loaded.__setitem__(i, True))

    for i, page in enumerate(pages):
        watch(i, page)
    t0 = time.perf_counter()
    for page in pages:  # navigations run side by side; each call returns once its request is sent
        page.goto(url, wait_until="commit", timeout=timeout_s * 1000)
    ready: list[float | None] = [None] * count
    while any(r is None for r in ready):
        now = time.perf_counter()
        if now - t0 > timeout_s:
            raise TimeoutError(f"{sum(r is None for r in ready)} of {count} pages not ready after {timeout_s:.0f} s")
        for i in range(count):
            if ready[i] is None and loaded[i] and not open_requests[i] and now - last_change[i] >= IDLE_S:
                ready[i] = last_change[i] - t0
        pages[0].wait_for_timeout(50)  # lets Playwright deliver the pages' events
    out = [{"events": float(joins[i]), "ready_s": float(ready[i])} for i in range(count)]
    for c in contexts:
        c.close()
    return out


def page_open_probe(browser: Any, server: Server, repeats: int) -> dict[str, list[float]]:
    """One page at a time, `repeats` times: queued events, server CPU seconds, seconds to ready."""
    events, cpu, ready = [], [], []
    open_pages(browser, server.url, 1)  # warm-up: the server's first page builds its caches
    time.sleep(1.0)
    for _ in range(repeats):
        before = cpu_seconds(server.proc.pid)
        page = open_pages(browser, server.url, 1)[0]
        time.sleep(0.5)  # let any late work finish and count
        cpu.append(cpu_seconds(server.proc.pid) - before)
        events.append(page["events"])
        ready.append(page["ready_s"])
        time.sleep(0.5)
    return {"events": events, "cpu_s": cpu, "ready_s": ready}


# ----------------------------------------------------------------------------- a class over HTTP


def call(http: requests.Session, base: str, api_name: str, data: list, session_hash: str,
         timeout: float = 300) -> tuple[str, float]:
    """One event over plain HTTP -> ("complete" | "error" | "exception: ...", seconds)."""
    t0 = time.perf_counter()
    try:
        r = http.post(f"{base}/gradio_api/call/{api_name}", json={"data": data, "session_hash": session_hash},
                      timeout=timeout)
        r.raise_for_status()
        event_id = r.json()["event_id"]
        with http.get(f"{base}/gradio_api/call/{api_name}/{event_id}", stream=True, timeout=timeout) as s:
            event = None
            for raw in s.iter_lines(chunk_size=1 << 16, decode_unicode=True):
                if raw.startswith("event:"):
                    event = raw.split(":", 1)[1].strip()
                    if event in ("complete", "error"):
                        return event, time.perf_counter() - t0
        return "exception: the stream ended", time.perf_counter() - t0
    except requests.RequestException as e:
        return f"exception: {type(e).__name__}", time.perf_counter() - t0


def picker(seed: int) -> list:
    return [RANDOM, None, None, 0, seed]


def genlab_actions(vae: str, vae_dim: int, dataset: str,
                   inpaint_steps: int | None = None) -> dict[str, tuple[float, Callable[[random.Random], tuple[str, list]]]]:
    """The class's mix: action -> (weight, rng -> (api_name, data)), each with the UI's defaults
    (inpainting: the page's step count unless `inpaint_steps`). Seeds vary by student, as they would."""
    if inpaint_steps is None:
        from genlab.inpainting import DEFAULT_STEPS as inpaint_steps
    return {
        "sample": (3, lambda r: ("sample", [vae, r.randrange(1000), 32, 1.0])),
        "slider release": (3, lambda r: ("decode", [vae, [round(r.gauss(0, 1), 2) for _ in range(vae_dim)]])),
        "interpolate": (2, lambda r: ("interpolate_ui", [vae, *picker(r.randrange(1000)), *picker(r.randrange(1000)),
                                                      8, "spherical", 200])),
        "edit": (2, lambda r: ("edit_attribute_ui", [vae, *picker(r.randrange(1000)), "thickness", "mean-difference",
                                                  False, 2.5, 7, 200])),
        "inpaint": (2, lambda r: ("inpaint_ui", [vae, *picker(r.randrange(1000)), "bottom half", None, 4,
                                              inpaint_steps, r.randrange(1000)])),
        "compare": (1, lambda r: ("compare_samples", [dataset, r.randrange(1000)])),
    }


def plain_actions() -> dict[str, tuple[float, Callable[[random.Random], tuple[str, list]]]]:
    return {"run": (1, lambda r: (f"run_{r.randrange(9)}", [r.randrange(1000), 0.5, -0.5]))}


def simulate_class(base: str, students: int, seconds: float, actions: dict, seed: int = 0) -> dict[str, Any]:
    """`students` threads, each acting with 2-5 s of thought between actions for `seconds`."""
    records: list[tuple[str, str, float]] = []
    lock = threading.Lock()
    names = list(actions)
    weights = [actions[n][0] for n in names]
    stop_at = time.perf_counter() + seconds

    def student(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        http = requests.Session()
        session = uuid.uuid4().hex[:10]
        time.sleep(rng.uniform(0, 3))  # the class does not press at the same millisecond
        while time.perf_counter() < stop_at:
            name = rng.choices(names, weights)[0]
            api_name, data = actions[name][1](rng)
            event, s = call(http, base, api_name, data, session)
            with lock:
                records.append((name, event, s))
            time.sleep(rng.uniform(2, 5))

    threads = [threading.Thread(target=student, args=(k,), daemon=True) for k in range(students)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 600)
    per: dict[str, dict[str, Any]] = {}
    for name in names:
        times = [s for n, e, s in records if n == name and e == "complete"]
        errors = [e for n, e, s in records if n == name and e != "complete"]
        p50, p95 = pct(times) if times else (float("nan"), float("nan"))
        per[name] = {"count": len(times) + len(errors), "errors": len(errors), "p50_s": p50, "p95_s": p95,
                     "error_kinds": sorted(set(errors))}
    return {"students": students, "seconds": seconds, "actions": len(records), "per_action": per}


# ----------------------------------------------------------------------------- the report


def fmt(values: list[float], digits: int = 2) -> str:
    """min–max of a list, or the one value."""
    lo, hi = min(values), max(values)
    return f"{lo:.{digits}f}" if abs(hi - lo) < 10 ** -digits else f"{lo:.{digits}f}–{hi:.{digits}f}"


def _load_and_cpu(sim: dict[str, Any]) -> str:
    """The machine's load during a class and the server's share of it (a busy machine slows every answer)."""
    if "server_cpu_s" not in sim:
        return "load not recorded"
    return (f"load average {sim['load_start']:.1f} at the start and {sim['load_end']:.1f} at the end (the server "
            f"process used {sim['server_cpu_s']:.0f} CPU s, {sim['server_cpu_s'] / sim['seconds']:.2f} cores on average)")


def report(results: dict[str, Any], args: argparse.Namespace, stamp: str) -> str:
    ours, plain = results["genlab"], results["plain"]
    lines = ["## A class at once", "",
             f"{stamp} Command: `{args.command}`. Chromium `--disable-gpu`, headless; the plain app is "
             "bench/plain_gradio_tabs.py (nine tabs, nothing computed on load), started and measured in the same run. "
             "The class's mix, weights in brackets, each with the page's defaults and a seed of the student's own: "
             "sample 32 (3), slider release: decode (3), interpolate two random samples (2), edit along thickness (2), "
             f"inpaint the bottom half, 4 fills per model (2), compare samples (1); on {args.model}.",
             "", "| | Genlab | plain Gradio | ratio |", "| --- | --- | --- | --- |"]
    po, pp = ours["page"], plain["page"]
    cpu_o, cpu_p = statistics.median(po["cpu_s"]), statistics.median(pp["cpu_s"])
    lines.append(f"| queued events per page open | {fmt(po['events'], 0)} | {fmt(pp['events'], 0)} | |")
    lines.append(f"| server CPU per page open, s (median of {len(po['cpu_s'])}; range) | {cpu_o:.2f} "
                 f"({fmt(po['cpu_s'])}) | {cpu_p:.2f} ({fmt(pp['cpu_s'])}) | {cpu_o / max(cpu_p, 1e-9):.1f}× |")
    lines.append(f"| one page, s to ready (median) | {statistics.median(po['ready_s']):.2f} | "
                 f"{statistics.median(pp['ready_s']):.2f} | |")
    for n in args.pages:
        o, p = ours["at_once"][str(n)], plain["at_once"][str(n)]
        lines.append(f"| {n} pages opened at once, s until the last is ready | {o:.1f} | {p:.1f} | {o / p:.2f}× |")
    for sim in ours.get("classes", []):
        lines += ["", f"**{sim['students']} students** over plain HTTP for {sim['seconds']:.0f} s, 2–5 s of thought "
                      f"between actions: {sim['actions']} actions; server memory {sim['rss_before']:.0f} → "
                      f"{sim['rss_after']:.0f} MiB; {_load_and_cpu(sim)}.", "",
                  "| action | count | errors | p50 s | p95 s |", "| --- | --- | --- | --- | --- |"]
        for name, row in sim["per_action"].items():
            lines.append(f"| {name} | {row['count']} | {row['errors']} | {row['p50_s']:.2f} | {row['p95_s']:.2f} |")
    for sim in plain.get("classes", []):
        times = [row for row in sim["per_action"].values()]
        lines += ["", f"Plain Gradio, {sim['students']} students, the same rhythm: {sim['actions']} actions, "
                      f"p50 {times[0]['p50_s']:.2f} s, p95 {times[0]['p95_s']:.2f} s, {times[0]['errors']} errors; "
                      f"{_load_and_cpu(sim)}."]
    return "\n".join(lines) + "\n"


def measure(server: Server, browser: Any, args: argparse.Namespace, actions: dict | None, log) -> dict[str, Any]:
    out: dict[str, Any] = {"page": page_open_probe(browser, server, args.repeats), "at_once": {}, "classes": []}
    log(f"{server.name}: page open {out['page']}")
    for n in args.pages:
        time.sleep(2)
        out["at_once"][str(n)] = max(p["ready_s"] for p in open_pages(browser, server.url, n))
        log(f"{server.name}: {n} pages at once: {out['at_once'][str(n)]:.1f} s")
    if actions is not None:
        for students in args.students:
            time.sleep(2)
            before, cpu, load = rss_mib(server.proc.pid), cpu_seconds(server.proc.pid), os.getloadavg()[0]
            sim = simulate_class(server.url, students, args.seconds, actions)
            sim["rss_before"], sim["rss_after"] = before, rss_mib(server.proc.pid)
            sim["server_cpu_s"] = cpu_seconds(server.proc.pid) - cpu  # the server's CPU over the class
            sim["load_start"], sim["load_end"] = load, os.getloadavg()[0]
            out["classes"].append(sim)
            log(f"{server.name}: class of {students}: {json.dumps(sim['per_action'])}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 repeats, 3 pages at once, 10 students for 30 s")
    p.add_argument("--repeats", type=int, default=5, help="single page opens per app")
    p.add_argument("--pages", type=int, nargs="+", default=[10], help="pages opened at once")
    p.add_argument("--students", type=int, nargs="*", default=[30, 100], help="class sizes to simulate")
    p.add_argument("--seconds", type=float, default=120, help="length of each class simulation")
    p.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON here")
    args = p.parse_args(argv)
    args.command = "python bench/classroom.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.repeats, args.pages, args.students, args.seconds = 2, [3], [10], 30
    from playwright.sync_api import sync_playwright

    from bench.serving import Models

    m = Models.find()
    args.model = m.vae
    stamp = run_stamp()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="genlab-classroom-") as tmp:
        tmp_path = Path(tmp)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, server_args, actions in [
                ("genlab", ["app.py"], genlab_actions(m.vae, m.vae_dim, m.dataset)),
                ("plain", ["bench/plain_gradio_tabs.py"], plain_actions()),
            ]:
                server = start_server(name, server_args, tmp_path, tmp_path)
                try:
                    results[name] = measure(server, browser, args, actions, print)
                finally:
                    server.stop()
            browser.close()
    text = report(results, args, stamp)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
