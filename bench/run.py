"""Run Genlab's benchmarks and write BENCHMARKS.md: the machine, then quality, then serving.

    nice -n 10 .venv/bin/python bench/run.py                  # everything, full size
    nice -n 10 .venv/bin/python bench/run.py --quick          # smaller and faster (CI's smoke test)
    .venv/bin/python bench/run.py --only serving --out /tmp/B.md
    .venv/bin/python -m bench --quick                         # the same as bench/run.py

Each part is a module of bench/ with `sections(quick, log) -> list[str]` (Markdown sections):
bench/quality.py (the models) and bench/serving.py (the app). A part that is missing or fails is
written as a note in the file, and the exit status is 1; the other part is still measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import report  # noqa: E402  (bench/ is on the path above)

PARTS = {"quality": "Model quality", "serving": "Serving"}


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    """Lines describing where and when the numbers were taken."""
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    mem_kib = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                    if line.startswith("MemTotal:")), 0)
    os_name = next((line.split("=", 1)[1].strip('"') for line in _read("/etc/os-release").splitlines()
                    if line.startswith("PRETTY_NAME=")), platform.system())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores, {mem_kib / 2**20:.1f} GiB RAM; {os_name} "
        f"(Linux {platform.release()}); load average {load:.2f} at the start",
        f"- Software: Python {platform.python_version()}, torch {_version('torch')}, gradio {_version('gradio')}",
        f"- Code: commit {commit}{' with uncommitted changes' if dirty else ''}",
    ]


def run_part(name: str, quick: bool) -> tuple[list[str], str | None, float]:
    """(sections, failure or None, seconds) of one part."""
    t0 = time.perf_counter()

    def log(*args) -> None:
        print(*args, flush=True)

    try:
        module = importlib.import_module(f"bench.{name}")
    except Exception as e:  # noqa: BLE001 - written into the file
        failure = f"bench/{name}.py could not be imported: {type(e).__name__}: {e}"
        traceback.print_exc()
        return [], failure, time.perf_counter() - t0
    try:
        return list(module.sections(quick, log=log)), None, time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        partial = list(getattr(e, "sections", []) or [])
        return partial, f"{type(e).__name__}: {e}", time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller runs (about a minute): a smoke test, rough numbers")
    p.add_argument("--only", choices=sorted(PARTS), help="run one part")
    p.add_argument("--out", default=str(REPO / "BENCHMARKS.md"), help="the Markdown file to write")
    args = p.parse_args(argv)

    # SIGTERM (a CI timeout, kill) ends the run like Ctrl-C, so the servers it started are stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = dt.datetime.now()
    header = machine()
    parts = [args.only] if args.only else list(PARTS)
    body, failures, took = [], [], []
    for name in parts:
        print(f"== {PARTS[name]} ({'quick' if args.quick else 'full'})", flush=True)
        sections, failure, seconds = run_part(name, args.quick)
        took.append(f"{name} {seconds:.0f} s")
        if failure:
            failures.append(f"{name}: {failure}")
            sections = [f"## {PARTS[name]}: failed\n\n**This part failed**: `{failure}`. "
                        f"{'What it measured before failing follows.' if sections else 'Nothing was measured.'}\n",
                        *sections]
        body += [s.strip() + "\n" for s in sections]

    command = " ".join(["python", "bench/run.py", *(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))])
    header += [
        f"- Date: {started.strftime('%Y-%m-%d %H:%M')}; took {', '.join(took)}",
        f"- Command: `{command}` ({'quick run: smaller samples, rough numbers' if args.quick else 'full run'})",
    ]
    intro = ("Numbers measured by `bench/run.py` on the machine below; every table carries its anchor, measured in "
             "the same run. Rerun everything with `nice -n 10 .venv/bin/python bench/run.py` (`--quick` for a "
             "smoke test with small samples, `--only quality` or `--only serving` for one part, "
             "`--out FILE` to write elsewhere). The machine was shared with other jobs unless the load average "
             "below says otherwise, which slows the server-side numbers most.")
    text = "# Benchmarks\n\n" + intro + "\n\n" + "\n".join(header) + "\n"
    if failures:
        text += "\n**Failed parts:** " + "; ".join(f"`{f}`" for f in failures) + "\n"
    text += "\n" + "\n".join(body)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # the sections of standalone benchmarks (bench/report.py) are kept as they were
    kept = report.sections(out.read_text()) if out.exists() else {}
    if kept:
        text += "\n" + "\n".join(kept.values())
    out.write_text(text)
    print(f"Wrote {out}" + (f" with {len(failures)} failed part(s)" if failures else ""), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
