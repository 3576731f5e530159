"""Write one standalone benchmark's results into BENCHMARKS.md, in place.

bench/run.py writes the file's main parts (quality, serving). Standalone benchmarks (memory under
load, slider latency per model, the playground, inpainting, ...) each own one `## ` section,
marked so that it can be replaced by the next run of the same script and kept by bench/run.py:

    from bench.report import write_section
    write_section("memory", "## Memory under a classroom's load\n\n| ... |\n", log=print)
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "BENCHMARKS.md"
_BLOCK = re.compile(r"<!-- section: (?P<key>[\w.-]+) -->\n.*?<!-- end section: (?P=key) -->\n?", re.S)


def run_stamp() -> str:
    """One line for a section: when, on what load, at which commit (the caller adds its command)."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Measured {dt.datetime.now().strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores, "
            f"load average {load:.2f} at the start, commit {commit}.")


def sections(text: str) -> dict[str, str]:
    """The marked standalone sections of a BENCHMARKS.md text, by key, markers included."""
    return {m.group("key"): m.group(0) for m in _BLOCK.finditer(text)}


def write_section(key: str, markdown: str, path: Path = BENCHMARKS, log=print) -> Path:
    """Put `markdown` (starting with a `## ` heading) into `path` as section `key`, replacing the
    previous one of that key, or appending it at the end."""
    block = f"<!-- section: {key} -->\n{markdown.strip()}\n<!-- end section: {key} -->\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if key in sections(text):
        text = _BLOCK.sub(lambda m: block if m.group("key") == key else m.group(0), text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
    log(f"Wrote section {key!r} of {path}")
    return path
