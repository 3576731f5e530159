"""Memory and disk under a classroom's load (issue 18): Genlab's `python app.py` and the plain Gradio
slider app (bench/plain_gradio_slider.py, the same decoder), one after the other in one run.

Each app gets CLIENTS clients on loopback, each sending one request after another over plain HTTP
with THINK seconds between them, for WARMUP + DURATION seconds. Genlab's clients use every endpoint
a classroom uses, with varied inputs (random latents, seeds, test images, models, attributes,
strengths; a few uploaded pictures):

    decode 30%  slider release 20% (the browser's event, in each client's own session)
    slider start 10% (sample / randomize / test image)  sample 15%  interpolate 12%  edit_attribute 13%

and the plain app's clients its one endpoint (`render`, a random slider value). Every SAMPLE seconds
the server's resident memory and its Gradio file cache (a folder of its own, GRADIO_TEMP_DIR) are
measured. Reported per app: the slope of resident memory per 1,000 requests after the warm-up (least
squares), the file cache over time and after the server stops, throughput and p50 latency in the
first and last minute after the warm-up, and errors. Goals: Genlab's slope within 2x the plain
app's, the file cache bounded, the last minute's throughput within 10% of the first's, no errors.

Genlab runs with GENLAB_FILE_CACHE_MB (default here 25, shipped 100; genlab.ui.file_cache) so that
its file-cache limit is reached within the run. Writes the section "memory" of BENCHMARKS.md.

    .venv/bin/python bench/memory_load.py                       # 20 clients, 2 min warm-up + 10 min, per app
    .venv/bin/python bench/memory_load.py --clients 6 --warmup 30 --duration 120 --no-write
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import requests
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_api import API, call_api  # noqa: E402
from bench.report import run_stamp, write_section  # noqa: E402
from genlab.attributes import DIRECTION_METHODS  # noqa: E402

PYTHON = sys.executable
MiB = 2**20
VAES = ["mnist-vae-16", "fashion-mnist-vae-16"]
GANS = ["mnist-gan-32", "fashion-mnist-gan-32"]
MIX = {"decode": 30, "release": 20, "slider_start": 10, "sample": 15, "interpolate_ui": 12, "edit_attribute_ui": 13}
UPLOAD_SHARE = 0.03  # of the pictures interpolate and edit_attribute start from
CALL_TIMEOUT = 300.0


# -- servers ------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    base: str
    cache: Path
    log: Path


def start_server(name: str, command: list[str], workdir: Path, extra_env: dict[str, str] | None = None,
                 timeout: float = 900) -> Server:
    """Start `command` (which must serve on the port in its arguments) with a file cache of its own."""
    port = int(command[command.index("--port") + 1])
    cache = workdir / f"{name}-cache"
    cache.mkdir()
    log = workdir / f"{name}.log"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(cache), "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           **(extra_env or {})}
    # Ctrl-C must reach it (stop_server) even when this bench runs in the background (nohup ... &),
    # where the shell has set SIGINT to be ignored, which children inherit.
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
        try:
            if requests.get(f"{base}{API}/info", timeout=10).ok:
                return Server(name, process, base, cache, log)
        except requests.RequestException:
            pass
        time.sleep(2)
    process.kill()
    raise RuntimeError(f"{name} did not answer within {timeout:.0f} s; see {log}")


def stop_server(server: Server) -> None:
    """Ctrl-C, as a person stops it (Gradio shuts down and runs its lifespan's end); kill after 60 s."""
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(60)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cache_usage(folder: Path) -> dict[str, float]:
    """Files and folders under `folder`, their bytes, and the disk they take (folders included)."""
    files = folders = size = disk = 0
    for root, dirs, names in os.walk(folder):
        folders += len(dirs)
        for entry in (*dirs, *names):
            try:
                st = os.lstat(os.path.join(root, entry))
            except FileNotFoundError:  # swept while we walk
                continue
            disk += st.st_blocks * 512
            if entry in names:
                files += 1
                size += st.st_size
    return {"files": files, "folders": folders, "mb": size / MiB, "disk_mb": disk / MiB}


# -- load ---------------------------------------------------------------------------------------------

@dataclass
class Record:
    t: float  # seconds since the start, at the end of the request
    seconds: float
    endpoint: str
    ok: bool


@dataclass
class Load:
    """The requests of one app: `request(rng, client)` sends one and returns its endpoint's name."""

    setup: Callable[[str], None]
    request: Callable[[str, random.Random, dict], str]
    records: list[Record] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class RequestFailed(RuntimeError):
    pass


def _call(base: str, http: requests.Session, api_name: str, data: list) -> Any:
    event, payload = call_api(base, api_name, data, timeout=CALL_TIMEOUT, http=http)
    if event != "complete":
        raise RequestFailed(f"{api_name}: {str(payload)[:200]}")
    return payload


def _join_queue(base: str, http: requests.Session, fn_index: int, trigger_id: int, data: list,
                session_hash: str) -> Any:
    """One event the way the page sends it (queue/join in its session, then the session's stream)."""
    r = http.post(f"{base}{API}/queue/join", json={"data": data, "fn_index": fn_index, "trigger_id": trigger_id,
                                                   "session_hash": session_hash, "event_data": None},
                  timeout=CALL_TIMEOUT)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    with http.get(f"{base}{API}/queue/data", params={"session_hash": session_hash}, stream=True,
                  timeout=CALL_TIMEOUT) as stream:
        for line in stream.iter_lines(chunk_size=1 << 16, decode_unicode=True):
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                if not message.get("success"):
                    raise RequestFailed(f"release: {str(message.get('output'))[:200]}")
                return message["output"]
    raise RequestFailed("release: the stream ended without a result")


def _random_picture(rng: random.Random) -> bytes:
    """A small PNG with a few random strokes, like a picture someone drew and uploaded."""
    image = Image.new("L", (rng.choice([28, 56, 96]),) * 2, 0)
    draw = ImageDraw.Draw(image)
    w = image.width
    for _ in range(rng.randint(1, 4)):
        draw.line([(rng.randrange(w), rng.randrange(w)) for _ in range(3)], fill=255, width=max(2, w // 10))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def genlab_load() -> Load:
    """Genlab's classroom: every endpoint of the sliders, sample, interpolate and edit tabs."""
    found: dict[str, Any] = {}
    latent_dims = {name: json.loads((REPO / "checkpoints" / name / "config.json").read_text())["model_config"]["latent_dim"]
                   for name in VAES + GANS}

    def setup(base: str) -> None:
        info = requests.get(f"{base}{API}/info", timeout=60).json()["named_endpoints"]
        found["params"] = {name.strip("/"): [p["parameter_name"] for p in ep["parameters"]]
                           for name, ep in info.items()}
        found["defaults"] = {name.strip("/"): [p.get("parameter_default") for p in ep["parameters"]]
                             for name, ep in info.items()}
        config = requests.get(f"{base}/config", timeout=60).json()
        kinds = {c["id"]: c["type"] for c in config["components"]}
        # The sliders panel's release: the one event of an html component's "release".
        release = [d for d in config["dependencies"]
                   if any(kinds.get(target) == "html" and event == "release" for target, event in d["targets"])]
        if len(release) != 1:
            raise RuntimeError(f"expected one release event of the sliders panel, found {len(release)}")
        found["release"] = (release[0]["id"], release[0]["targets"][0][0])
        http = requests.Session()
        found["attributes"] = {}
        for model in VAES + GANS:
            update = _call(base, http, "attribute_choices", [model, None])[0]
            found["attributes"][model] = [value for _, value in update["choices"]]

    def args(api_name: str, **values: Any) -> list:
        names, defaults = found["params"][api_name], found["defaults"][api_name]
        unknown = set(values) - set(names)
        if unknown:
            raise RuntimeError(f"{api_name} has no parameters {sorted(unknown)} (it has {names})")
        return [values.get(n, d) for n, d in zip(names, defaults)]

    def latent(rng: random.Random, model: str) -> list[float]:
        return [round(rng.gauss(0, 1), 4) for _ in range(latent_dims[model])]

    def picture(rng: random.Random, base: str, http: requests.Session) -> tuple[str, Any, int, int]:
        """(source, upload, test index, seed) of one image picker."""
        roll = rng.random()
        if roll < UPLOAD_SHARE:
            r = http.post(f"{base}{API}/upload", files={"files": ("drawn.png", _random_picture(rng))}, timeout=60)
            r.raise_for_status()
            upload = {"path": r.json()[0], "orig_name": "drawn.png", "meta": {"_type": "gradio.FileData"}}
            return "Upload", upload, 0, 0
        if roll < 0.5:
            return "Test image", None, rng.randrange(2000), 0
        return "Random sample", None, 0, rng.randrange(2**31 - 1)

    def request(base: str, rng: random.Random, client: dict) -> str:
        http = client.setdefault("http", requests.Session())
        endpoint = client["endpoint"] = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        model = rng.choice(VAES + GANS)
        inversion = rng.choice([10, 20, 30])  # GAN inversion steps: a classroom lowers them to see it fast
        if endpoint == "decode":
            _call(base, http, "decode", args("decode", model_name=model, latent=latent(rng, model)))
        elif endpoint == "release":
            fn_index, trigger = found["release"]
            session = client.setdefault("session", uuid.uuid4().hex[:11])  # one browser tab per client
            _join_queue(base, http, fn_index, trigger, [{"model": model, "latent": latent(rng, model)}, None], session)
        elif endpoint == "slider_start":
            how = rng.choice(["slider_start_sample", "slider_randomize", "slider_start_dataset"])
            values: dict[str, Any] = {"model_name": model}
            if how == "slider_start_sample":
                values["seed"] = rng.randrange(2**31 - 1)
            elif how == "slider_start_dataset":
                values.update(test_index=rng.randrange(2000), inversion_steps=inversion)
            _call(base, http, how, args(how, **values))
            endpoint = how
        elif endpoint == "sample":
            _call(base, http, "sample", args("sample", model_name=model, seed=rng.randrange(2**31 - 1),
                                             count=rng.choice([4, 8, 16, 32]), temperature=round(rng.uniform(0.5, 1.5), 2)))
        elif endpoint == "interpolate_ui":
            source_a, upload_a, index_a, seed_a = picture(rng, base, http)
            source_b, upload_b, index_b, seed_b = picture(rng, base, http)
            _call(base, http, "interpolate_ui", args(
                "interpolate_ui", model=model, source_a=source_a, upload_a=upload_a, index_a=index_a, seed_a=seed_a,
                source_b=source_b, upload_b=upload_b, index_b=index_b, seed_b=seed_b, steps=rng.randint(4, 12),
                mode=rng.choice(["linear", "spherical"]), inversion_steps=inversion))
        elif endpoint == "edit_attribute_ui":
            source, upload, index, seed = picture(rng, base, http)
            attribute = rng.choice(found["attributes"][model])
            _call(base, http, "edit_attribute_ui", args(
                "edit_attribute_ui", model_name=model, source=source, upload=upload, test_index=index, seed=seed,
                attribute_value=attribute, method_value=rng.choice(DIRECTION_METHODS),
                conditional_value=not attribute.startswith("class:") and rng.random() < 0.5,
                strength_value=round(rng.uniform(-3, 3), 1), strip_value=rng.randint(3, 9),
                inversion_value=inversion))
        return endpoint

    return Load(setup, request)


def plain_load() -> Load:
    """The plain Gradio slider app's one endpoint, with a random slider value."""

    def request(base: str, rng: random.Random, client: dict) -> str:
        http = client.setdefault("http", requests.Session())
        client["endpoint"] = "render"
        _call(base, http, "render", [round(rng.uniform(-4, 4), 2)])
        return "render"

    return Load(lambda base: None, request)


def run_load(server: Server, load: Load, clients: int, think: float, seconds: float, sample_every: float,
             seed: int, log=print) -> list[dict]:
    """`clients` threads send requests for `seconds`; returns the samples taken every `sample_every` s."""
    load.setup(server.base)
    stop = threading.Event()
    lock = threading.Lock()
    start = time.monotonic()

    def client_loop(k: int) -> None:
        rng, client = random.Random(seed * 1000 + k), {}
        time.sleep(think * k / max(clients, 1))  # not all at once
        while not stop.is_set():
            t0 = time.monotonic()
            client["endpoint"] = "?"  # request() names it before it sends
            try:
                endpoint, ok = load.request(server.base, rng, client), True
            except (RequestFailed, requests.RequestException, RuntimeError, KeyError, ValueError) as e:
                endpoint, ok = client["endpoint"], False
                with lock:
                    load.errors.append(f"{endpoint} at {time.monotonic() - start:.0f} s: {type(e).__name__}: {e}"[:300])
            t1 = time.monotonic()
            with lock:
                load.records.append(Record(t1 - start, t1 - t0, endpoint, ok))
            stop.wait(think)

    threads = [threading.Thread(target=client_loop, args=(k,), daemon=True) for k in range(clients)]
    for thread in threads:
        thread.start()
    samples = []
    next_sample = start
    while True:
        now = time.monotonic()
        if now >= next_sample:
            with lock:
                done, errors = len(load.records), sum(not r.ok for r in load.records)
            sample = {"t": now - start, "requests": done, "errors": errors, "rss_mib": rss_mib(server.process.pid),
                      **cache_usage(server.cache)}
            samples.append(sample)
            log(f"  {server.name} t={sample['t']:5.0f}s requests={done:6d} errors={errors} "
                f"rss={sample['rss_mib']:7.1f} MiB cache={sample['files']} files {sample['mb']:.1f} MiB")
            next_sample += sample_every
        if now - start >= seconds:
            break
        time.sleep(min(1.0, max(0.0, next_sample - time.monotonic())))
    stop.set()
    for thread in threads:
        thread.join(CALL_TIMEOUT)
    return samples


# -- numbers ------------------------------------------------------------------------------------------

def slope_per_1000(samples: list[dict], after: float) -> float:
    """Least-squares slope of resident memory (MiB) per 1,000 requests over the samples after `after` s."""
    points = [(s["requests"] / 1000, s["rss_mib"]) for s in samples if s["t"] >= after]
    if len(points) < 3:
        return float("nan")
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


def window(records: list[Record], t0: float, t1: float) -> dict[str, float]:
    inside = [r for r in records if t0 <= r.t < t1]
    ok = [r.seconds for r in inside if r.ok]
    return {"per_s": len(inside) / (t1 - t0), "p50_s": statistics.median(ok) if ok else float("nan")}


def summarize(name: str, load: Load, samples: list[dict], warmup: float, total: float, after_stop: dict) -> dict:
    first = window(load.records, warmup, warmup + 60)
    last = window(load.records, total - 60, total)
    at_warmup = min(samples, key=lambda s: abs(s["t"] - warmup))
    counts: dict[str, int] = {}
    for r in load.records:
        counts[r.endpoint] = counts.get(r.endpoint, 0) + 1
    return {"name": name, "requests": len(load.records), "errors": len(load.errors), "error_examples": load.errors[:5],
            "slope": slope_per_1000(samples, warmup), "rss_warm": at_warmup["rss_mib"], "rss_end": samples[-1]["rss_mib"],
            "requests_warm": at_warmup["requests"], "cache_warm": at_warmup, "cache_end": samples[-1],
            "cache_max_after_warmup_mb": max(s["mb"] for s in samples if s["t"] >= warmup),
            "after_stop": after_stop, "first": first, "last": last, "counts": counts, "samples": samples}


def markdown(results: list[dict], args: argparse.Namespace, command: str, stamp: str, load_end: str) -> str:
    genlab, plain = results
    ratio = genlab["slope"] / plain["slope"] if plain["slope"] > 0 else float("inf")
    lines = [
        "## Memory and disk under a classroom's load",
        "",
        stamp + f" Load average at the end: {load_end}.",
        f"Command: `{command}`",
        "",
        f"{args.clients} clients on loopback, each sending its next request {args.think * 1000:.0f} ms after the "
        f"last one ended, for {args.warmup:.0f} s of warm-up and then {args.duration:.0f} s, against Genlab's "
        "`python app.py` and then the plain Gradio slider app (bench/plain_gradio_slider.py, the same decoder), "
        f"each with a Gradio file cache of its own. Genlab: every classroom endpoint with varied inputs "
        f"({', '.join(f'{k} {v}%' for k, v in MIX.items())}; models {', '.join(VAES + GANS)}; random latents, seeds, "
        f"test images, attributes, strengths; {UPLOAD_SHARE:.0%} of the pictures uploaded), run with "
        f"GENLAB_FILE_CACHE_MB={args.cache_mb} so that its file-cache limit (shipped: 100 MiB) is reached within the "
        "run. The plain app: its one endpoint with a random slider value. Resident memory and the file cache "
        f"measured every {args.sample:.0f} s; slopes are least squares over the samples after the warm-up.",
        "",
        "| | Genlab | plain Gradio |",
        "| --- | --- | --- |",
        f"| requests (errors) | {genlab['requests']:,} ({genlab['errors']}) | {plain['requests']:,} ({plain['errors']}) |",
        f"| resident memory after warm-up → end | {genlab['rss_warm']:,.0f} → {genlab['rss_end']:,.0f} MiB | "
        f"{plain['rss_warm']:,.0f} → {plain['rss_end']:,.0f} MiB |",
        f"| **slope after warm-up, per 1,000 requests** | **{genlab['slope']:+.2f} MiB** | **{plain['slope']:+.2f} MiB** |",
        f"| file cache after warm-up → end | {genlab['cache_warm']['files']:,} files, {genlab['cache_warm']['mb']:.1f} MiB → "
        f"{genlab['cache_end']['files']:,} files, {genlab['cache_end']['mb']:.1f} MiB | "
        f"{plain['cache_warm']['files']:,} files, {plain['cache_warm']['mb']:.1f} MiB → "
        f"{plain['cache_end']['files']:,} files, {plain['cache_end']['mb']:.1f} MiB |",
        f"| file cache, largest after warm-up (disk, with folders) | {genlab['cache_max_after_warmup_mb']:.1f} MiB "
        f"({max(s['disk_mb'] for s in genlab['samples']):.1f} MiB) | {plain['cache_max_after_warmup_mb']:.1f} MiB "
        f"({max(s['disk_mb'] for s in plain['samples']):.1f} MiB) |",
        f"| file cache after the server stopped (Ctrl-C) | {genlab['after_stop']['files']:,} files, "
        f"{genlab['after_stop']['mb']:.1f} MiB | {plain['after_stop']['files']:,} files, {plain['after_stop']['mb']:.1f} MiB |",
        f"| throughput, first → last minute after warm-up | {genlab['first']['per_s']:.1f} → {genlab['last']['per_s']:.1f} "
        f"requests/s | {plain['first']['per_s']:.1f} → {plain['last']['per_s']:.1f} requests/s |",
        f"| p50 latency, first → last minute | {genlab['first']['p50_s']:.2f} → {genlab['last']['p50_s']:.2f} s | "
        f"{plain['first']['p50_s']:.2f} → {plain['last']['p50_s']:.2f} s |",
        "",
        f"Goals: Genlab's slope is {ratio:.2f}× the plain app's (goal ≤ 2×; a slope under the noise of a few MiB "
        f"is shown as measured); its file cache peaked at {genlab['cache_max_after_warmup_mb']:.1f} MiB against a limit "
        f"of {args.cache_mb} MiB; its last minute ran at {genlab['last']['per_s'] / genlab['first']['per_s']:.0%} of the "
        f"first's throughput (goal ≥ 90%); errors {genlab['errors']} (goal 0).",
        "",
        "Genlab's requests by endpoint: " + ", ".join(f"{k} {v:,}" for k, v in sorted(genlab["counts"].items())) + ".",
        *[f"Error ({r['name']}): {e}" for r in results for e in r["error_examples"]],
        "",
        "Samples (t: seconds since the start; memory in MiB; cache in files and MiB):",
        "",
        "| t | Genlab requests | Genlab memory | Genlab cache | plain requests | plain memory | plain cache |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for g, p in zip(genlab["samples"], plain["samples"]):
        lines.append(f"| {g['t']:.0f} | {g['requests']:,} | {g['rss_mib']:,.0f} | {g['files']:,} / {g['mb']:.1f} | "
                     f"{p['requests']:,} | {p['rss_mib']:,.0f} | {p['files']:,} / {p['mb']:.1f} |")
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--think", type=float, default=0.016, help="seconds a client waits between requests")
    p.add_argument("--warmup", type=float, default=120.0, help="seconds of load before the slope is measured")
    p.add_argument("--duration", type=float, default=600.0, help="seconds of load after the warm-up")
    p.add_argument("--sample", type=float, default=30.0, help="seconds between memory and cache samples")
    p.add_argument("--cache-mb", type=int, default=25, help="Genlab's file-cache limit for the run (GENLAB_FILE_CACHE_MB)")
    p.add_argument("--plain-checkpoint", default="checkpoints/mnist-vae-16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write every number to this file")
    p.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    args = p.parse_args(argv)
    command = "python bench/memory_load.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    stamp = run_stamp()
    total = args.warmup + args.duration
    results = []
    with tempfile.TemporaryDirectory(prefix="genlab-memory-") as tmp:
        workdir = Path(tmp)
        apps = [
            ("genlab", [PYTHON, "app.py", "--port", str(free_port())], {"GENLAB_FILE_CACHE_MB": str(args.cache_mb)},
             genlab_load()),
            ("plain", [PYTHON, "bench/plain_gradio_slider.py", "--checkpoint", args.plain_checkpoint,
                       "--port", str(free_port())], {}, plain_load()),
        ]
        for name, command_line, env, load in apps:
            print(f"{name}: starting {' '.join(command_line[1:])}", flush=True)
            server = start_server(name, command_line, workdir, env)
            try:
                samples = run_load(server, load, args.clients, args.think, total, args.sample, args.seed,
                                   log=lambda line: print(line, flush=True))
            finally:
                stop_server(server)
            after_stop = cache_usage(server.cache)
            results.append(summarize(name, load, samples, args.warmup, total, after_stop))
            r = results[-1]
            print(f"{name}: {r['requests']} requests, {r['errors']} errors, slope {r['slope']:+.2f} MiB per 1,000 "
                  f"requests, throughput {r['first']['per_s']:.1f} -> {r['last']['per_s']:.1f}/s, cache after stop "
                  f"{after_stop['files']} files", flush=True)
            for e in r["error_examples"]:
                print("   error:", e)
    load_end = f"{os.getloadavg()[0]:.2f}"
    text = markdown(results, args, command, stamp, load_end)
    print(text)
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results}, indent=1,
                                        default=str))
    if not args.no_write:
        write_section("memory", text)
    return 0 if all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
