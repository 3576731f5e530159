"""bench/run.py --quick as a smoke test: it runs, writes every serving section, and its tables hold numbers.

The numbers themselves are not checked (they depend on the machine); the structure is: every named
endpoint of the app has sample inputs in bench/serving.py and answered, the load test had no errors.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import PYTHON, REPO_ROOT, SUBPROCESS_ENV

pytestmark = pytest.mark.slow

SERVING = ["## Latency in the browser", "## HTTP API", "## Cold start and memory", "## Concurrency", "## Load test"]
NUMBER = re.compile(r"^[0-9][0-9.,]*$")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end]


def rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in `text` (header and separator lines left out), as cells."""
    out, in_table = [], 0
    for line in text.splitlines():
        in_table = in_table + 1 if line.startswith("|") else 0
        if in_table > 2:
            out.append([c.strip() for c in line.strip().strip("|").split("|")])
    return out


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bench") / "B.md"
    command = [PYTHON, "bench/run.py", "--quick", "--out", str(out)]
    if not (REPO_ROOT / "bench" / "quality.py").exists():
        command += ["--only", "serving"]  # the quality part is not written yet
    done = subprocess.run(command, cwd=REPO_ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, f"bench/run.py failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return out.read_text()


def test_header_and_sections(report):
    assert report.startswith("# Benchmarks")
    for fragment in ("Machine:", "cores", "torch", "gradio", "commit", "bench/run.py --quick", "quick run"):
        assert fragment in report
    for heading in SERVING:
        assert heading in report
    assert "failed" not in report.lower().split("## ", 1)[0]  # no failed part noted in the header


def test_every_endpoint_answers_with_numbers(report):
    api = rows(section(report, "## HTTP API"))
    assert len(api) >= 10
    for endpoint, inputs, calls, p50, p95, _, result in api:
        assert "no sample inputs" not in result, f"{endpoint}: add its sample inputs to bench/serving.py"
        if result == "full run only":
            continue
        assert result == "ok", f"{endpoint} [{inputs}]: {result}"
        assert int(calls) >= 1 and NUMBER.match(p50) and NUMBER.match(p95), (endpoint, p50, p95)
    decode = [r for r in api if r[0] == "`decode`"]
    assert decode and NUMBER.match(decode[0][3])


def test_start_memory_concurrency_and_load_have_numbers(report):
    start = rows(section(report, "## Cold start and memory"))
    assert len(start) == 4  # two apps' start times, then their memory
    for row in start[:2]:
        assert NUMBER.match(row[2]) and NUMBER.match(row[4]), row  # to the page; then the first call
    for row in start[2:]:
        assert all(NUMBER.match(c) for c in row[1:5]) and row[6] == "0", row  # MiB, requests; no errors
    concurrency = rows(section(report, "## Concurrency"))
    assert [int(r[0]) for r in concurrency] == [1, 1, 5, 5, 20, 20]
    for row in concurrency:
        assert NUMBER.match(row[3]) and row[6] == "0", row  # throughput; no errors
    load = rows(section(report, "## Load test"))
    calls = {r[0]: r for r in load if r[0] in ("`decode`", "`interpolate`", "all")}
    assert calls["all"][5] == "0", calls["all"]  # issue 7: no errors under load
    assert int(calls["`decode`"][1]) > 0 and NUMBER.match(calls["`decode`"][3])


def test_browser_latency(report):
    browser = section(report, "## Latency in the browser")
    if not os.path.exists("/usr/bin/chromium"):
        assert "Skipped" in browser
        return
    sliders = rows(browser.split("### Button")[0])
    assert any(r[0].startswith("Genlab") for r in sliders) and any(r[0].startswith("Plain") for r in sliders)
    for row in sliders:
        assert NUMBER.match(row[3]) and NUMBER.match(row[4]), row
    buttons = rows(browser.split("### Button")[1])
    assert len(buttons) == 2
    for row in buttons:
        assert row[-1] == "ok" and NUMBER.match(row[2]), row
