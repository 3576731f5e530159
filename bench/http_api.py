"""A plain-HTTP client for Gradio's call API, shared by the benchmarks and the tests.

    event, payload = call_api("http://127.0.0.1:7860", "decode", ["mnist-vae-16", [0.0] * 16])

POST /gradio_api/call/<api_name> starts an event; GET /gradio_api/call/<api_name>/<event_id> streams
it (server-sent events) up to `complete` (payload: the outputs) or `error` (payload: the message).
No gradio_client: it adds tens of milliseconds to every call, which latency figures must not carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

API = "/gradio_api"


class StreamEnded(RuntimeError):
    """The event stream closed without a `complete` or `error` event."""


def call_api(base: str, api_name: str, data: list, session_hash: str | None = None, timeout: float = 600,
             http: requests.Session | None = None) -> tuple[str, Any]:
    """One event over plain HTTP -> ("complete", outputs) or ("error", message).

    `data` is sent with json.dumps, so NaN and Infinity go through (tests send them on purpose).
    Raises requests' errors for HTTP failures and StreamEnded when no result arrives.
    """
    http = http or requests.Session()
    body: dict[str, Any] = {"data": data}
    if session_hash:
        body["session_hash"] = session_hash
    r = http.post(f"{base}{API}/call/{api_name}", data=json.dumps(body), timeout=timeout,
                  headers={"Content-Type": "application/json"})
    r.raise_for_status()
    event_id = r.json()["event_id"]
    event = None
    with http.get(f"{base}{API}/call/{api_name}/{event_id}", stream=True, timeout=timeout) as stream:
        stream.raise_for_status()
        # Big chunks: requests joins a long line chunk by chunk, so 512-byte chunks make a
        # multi-megabyte result (web_decoder) take minutes on the client alone.
        for raw in stream.iter_lines(chunk_size=1 << 16, decode_unicode=True):
            if raw.startswith("event:"):
                event = raw.split(":", 1)[1].strip()
            elif raw.startswith("data:") and event in ("complete", "error"):
                payload = json.loads(raw.split(":", 1)[1].strip())
                if event == "error" and isinstance(payload, dict):
                    payload = payload.get("error") or payload.get("message") or payload
                return event, payload
    raise StreamEnded(f"{api_name}: the event stream ended without a result")


def upload_file(base: str, path: Path, timeout: float = 60) -> dict[str, Any]:
    """Upload a file; returns the FileData dict that image and file inputs take."""
    with open(path, "rb") as f:
        r = requests.post(f"{base}{API}/upload", files={"files": (path.name, f)}, timeout=timeout)
    r.raise_for_status()
    return {"path": r.json()[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
