"""SIGTERM (docker stop, a Space restart) ends `python app.py` cleanly and removes the files it wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.app_server import RANDOM, free_port, make_tiny_checkpoints

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_sigterm_stops_the_server_and_removes_its_files(tmp_path):
    from bench.http_api import call_api

    root = make_tiny_checkpoints(tmp_path / "checkpoints")
    cache = tmp_path / "gradio-cache"
    port = free_port()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(cache), "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(REPO)}
    server = subprocess.Popen([sys.executable, "app.py", "--checkpoints", str(root), "--port", str(port)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if requests.get(base + "/", timeout=5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            pytest.fail("the app did not start")
        event, outputs = call_api(base, "interpolate_ui", ["mnist-vae-16", RANDOM, None, None, 0, 3,
                                                        RANDOM, None, None, 0, 4, 6, "spherical", 20])
        assert event == "complete", outputs
        gif = Path(outputs[5]["path"])
        assert _files(cache), "the app wrote no files to remove"
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    log = server.stdout.read()
    assert code == 0, log[-2000:]
    assert _files(cache) == [], "files left in Gradio's cache after SIGTERM"
    assert gif.is_relative_to(cache) and not gif.exists()
