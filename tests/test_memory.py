"""Memory and disk stay flat while the app serves (issue 18): lean sessions, one-shot API sessions
forgotten, the file cache swept (genlab.ui.sessions, genlab.ui.file_cache). bench/memory_load.py measures the same under a
classroom's load for minutes."""

from __future__ import annotations

import gc
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gradio as gr
import pytest
import requests
from gradio.state_holder import SessionState
from PIL import Image

from genlab.ui import gradio_overrides, sessions
from genlab.ui.file_cache import sweep_file_cache
from genlab.ui.gradio_overrides import GuardedBlocks
from genlab.ui.sessions import LeanSessionState, LeanStateHolder, release_free_memory

from app_server import GAN_NAME, VAE_NAME, free_port, genlab_app  # noqa: F401 - fixture
from bench.http_api import call_api

MiB = 2**20


def rss_bytes() -> int:
    """Resident memory of this process (the tests' app runs in it)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def decode_many(base: str, count: int, seed: int, workers: int = 4) -> None:
    """`count` decode calls with fresh random latents, alternating the tiny VAE and GAN."""
    local = threading.local()

    def one(i: int) -> None:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        rng = random.Random(seed * 1_000_003 + i)
        latent = [round(rng.gauss(0, 1), 4) for _ in range(16)]
        event, payload = call_api(base, "decode", [(VAE_NAME, GAN_NAME)[i % 2], latent], http=local.http)
        assert event == "complete", payload

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(count)))


@pytest.mark.slow
def test_2000_decode_calls_move_memory_by_less_than_50_mib(genlab_app):
    decode_many(genlab_app, 300, seed=1)  # warm-up: allocator arenas of the queue workers, caches
    gc.collect()
    before = rss_bytes()
    decode_many(genlab_app, 2000, seed=2)
    gc.collect()
    grown = rss_bytes() - before
    # Before the fix each call kept a session of ~0.5 MiB: 2,000 calls grew by about 1 GiB.
    assert grown < 50 * MiB, f"resident memory grew by {grown / MiB:.1f} MiB over 2,000 decode calls"


def test_a_session_keeps_its_newest_user_defined_attributes_only(genlab_app):
    from genlab.ui.attributes import CUSTOM_PREFIX, MAX_CUSTOM_ATTRIBUTES

    session = f"attributes-{random.randrange(10**9)}"
    names = [f"mine {k}" for k in range(MAX_CUSTOM_ATTRIBUTES + 2)] + ["mine 1"]  # "mine 1" again: newest
    for name in names:
        event, outputs = call_api(genlab_app, "define_attribute", [VAE_NAME, name, "2, 5", "1, 3", None, None, 10],
                                  session_hash=session)
        assert event == "complete", outputs
    custom = {value for _, value in outputs[1]["choices"] if value.startswith(CUSTOM_PREFIX)}
    kept = [CUSTOM_PREFIX + n for n in ["mine 1", *names[3:-1]]]
    assert len(custom) == MAX_CUSTOM_ATTRIBUTES and custom == set(kept)


# -- a small GuardedBlocks app: sessions --------------------------------------------------------------


def _tiny_app(**blocks_kwargs) -> GuardedBlocks:
    with GuardedBlocks(**blocks_kwargs) as demo:
        counter = gr.State(0)
        size = gr.Number(8, label="Size")
        picture = gr.Image(format="png", type="pil")
        total = gr.Number(label="Calls")

        def draw(n, calls):
            shade = random.randrange(256)
            return Image.new("L", (int(n), int(n)), shade), calls + 1, calls + 1

        gr.Button().click(draw, [size, counter], [picture, counter, total], api_name="draw")
    return demo


def _launch(demo: GuardedBlocks) -> str:
    port = free_port()
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, _frontend=False)
    return f"http://127.0.0.1:{port}"


def test_sessions_of_single_api_calls_are_forgotten_and_named_sessions_kept(monkeypatch):
    monkeypatch.setattr(gradio_overrides, "ONE_SHOT_QUEUES_KEPT", 5)
    demo = _tiny_app()
    base = _launch(demo)
    try:
        assert isinstance(demo.state_holder, LeanStateHolder)
        assert demo.state_holder.capacity == sessions.MAX_SESSIONS
        http = requests.Session()
        for _ in range(20):
            event, payload = call_api(base, "draw", [8], http=http)
            assert event == "complete", payload
        assert len(demo.state_holder.session_data) == 0
        # Their message queues go too, after the last 5 (Gradio would keep 2,000, and then drop the
        # queue of a busy browser tab to make room).
        assert len(demo._queue.pending_messages_per_session) == 5
        assert len(demo._queue.pending_event_ids_session) <= 5
        # A caller that names its session keeps it, and its gr.State, from call to call.
        counts = [call_api(base, "draw", [8], session_hash="class-7", http=http)[1][2] for _ in range(3)]
        assert counts == [1, 2, 3]
        assert list(demo.state_holder.session_data) == ["class-7"]
        assert isinstance(demo.state_holder["class-7"], LeanSessionState)
    finally:
        demo.close()


def test_lean_session_gives_the_deep_link_the_same_components_as_gradio():
    demo = _tiny_app()
    eager, lean = SessionState(demo), LeanSessionState(demo)
    assert lean.config_values == {}  # nothing built when the session starts
    ids = list(demo.blocks)
    replacement = gr.Number(42, label="Calls", render=False)
    for state in (eager, lean):
        state[ids[-1]] = replacement  # a handler returned an updated component
        state._update_value_in_config(ids[1], 9)
    by_id = lambda components: {c["id"]: c for c in components}  # noqa: E731
    assert by_id(lean.components) == by_id(eager.components)


# -- the file cache ---------------------------------------------------------------------------------


class _FakeBlocks:
    """What sweep_file_cache reads of a gr.Blocks."""

    def __init__(self, root: Path):
        self.GRADIO_CACHE = str(root)
        self.upload_file_set: set[str] = set()
        self.outputs: set[str] = set()
        self.temp_file_sets = [self.upload_file_set, self.outputs]
        self.default = type("Block", (), {"keep_in_cache": set()})()
        self.blocks = {1: self.default}

    def add(self, files: set[str], name: str, size: int) -> str:
        """Write a file as Gradio does, in a folder of its own (<cache>/<hash>/<name>)."""
        folder = Path(self.GRADIO_CACHE) / f"{len(self.outputs) + len(self.upload_file_set):064x}"
        folder.mkdir()
        path = folder / name
        path.write_bytes(b"x" * size)
        files.add(str(path))
        return str(path)


def test_sweep_deletes_old_files_with_their_folders_and_keeps_defaults(tmp_path):
    blocks = _FakeBlocks(tmp_path)
    old_output = blocks.add(blocks.outputs, "old.png", 10)
    old_upload = blocks.add(blocks.upload_file_set, "upload.png", 10)
    default = blocks.add(blocks.outputs, "default.png", 10)
    blocks.default.keep_in_cache.add(default)
    time.sleep(0.6)  # ctime cannot be set: the old files age for real
    new_output = blocks.add(blocks.outputs, "new.png", 10)
    left = sweep_file_cache(blocks, max_age_s=0.5, max_bytes=10**6)
    assert Path(new_output).exists()
    assert not Path(old_output).exists() and not Path(old_output).parent.exists()
    assert not Path(old_upload).exists() and not Path(old_upload).parent.exists()
    assert Path(default).exists()
    assert old_output not in blocks.outputs and old_upload not in blocks.upload_file_set
    assert left["deleted"] == 2
    # A file deleted behind the sweep's back only leaves its set.
    os.remove(default)
    blocks.default.keep_in_cache.clear()
    sweep_file_cache(blocks, max_age_s=10**6, max_bytes=10**6)
    assert default not in blocks.outputs


def test_sweep_over_the_size_limit_deletes_generated_files_before_uploads_oldest_first(tmp_path):
    blocks = _FakeBlocks(tmp_path)
    upload = blocks.add(blocks.upload_file_set, "upload.png", 300)
    outputs = []
    for i in range(5):
        outputs.append(blocks.add(blocks.outputs, f"out{i}.png", 300))
        time.sleep(0.02)  # distinct ctimes
    left = sweep_file_cache(blocks, max_age_s=10**6, max_bytes=1500)  # 1,800 bytes held
    # Down to 80% of the limit (1,200 bytes): the two oldest outputs go, the upload stays.
    assert [Path(p).exists() for p in outputs] == [False, False, True, True, True]
    assert Path(upload).exists()
    assert left == {"files": 4, "bytes": 1200, "deleted": 2}
    left = sweep_file_cache(blocks, max_age_s=10**6, max_bytes=500)
    assert Path(upload).exists() and [Path(p).exists() for p in outputs].count(True) == 0
    assert left["bytes"] == 300


def test_the_served_app_sweeps_its_outputs_and_deletes_them_when_it_stops():
    demo = _tiny_app(file_cache_max_age_s=0.5, file_cache_sweep_s=0.2)
    base = _launch(demo)
    try:
        http = requests.Session()
        event, payload = call_api(base, "draw", [8], http=http)
        assert event == "complete", payload
        first = payload[0]["path"]
        assert Path(first).exists()
        deadline = time.monotonic() + 30
        while Path(first).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(first).exists() and not Path(first).parent.exists()
        event, payload = call_api(base, "draw", [9], http=http)
        second = payload[0]["path"]
    finally:
        demo.close()
    assert not Path(second).exists()  # the next start would not know it: deleted at shutdown


def test_release_free_memory_gives_freed_blocks_back():
    if sessions._malloc_trim is None:
        pytest.skip("not glibc: nothing to release")
    blocks = [bytes([k % 251]) * 50_000 for k in range(2000)]  # ~100 MB written, each under the mmap threshold
    del blocks[1::2]  # half freed, scattered among live blocks: glibc keeps it in its heap
    gc.collect()
    before = rss_bytes()
    release_free_memory()
    assert rss_bytes() < before - 20 * MiB
