"""The file cache: Gradio keeps every file it writes (outputs, uploads), one folder each, for good.

Here files older than FILE_CACHE_MAX_AGE_S go, then the oldest while they exceed
FILE_CACHE_MAX_BYTES (generated files before uploads), each with its folder (`sweep_file_cache`),
every FILE_CACHE_SWEEP_S seconds while the server runs (a lifespan given to `launch`'s public
`app_kwargs`), and all of them when the server stops (SIGTERM included) or Python exits.
Files a component shows by default (its first view) or as examples stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any, Callable

import anyio.to_thread
import gradio as gr

from genlab.ui.sessions import release_free_memory

# An hour covers a lesson in which a picture uploaded at its start is still used; 100 MiB holds the
# files of ~10,000 requests of bench/memory_load.py's classroom (~10 KiB each), ten minutes of 20 busy
# clients, so only under such a load do files go before their hour. GENLAB_FILE_CACHE_MB sets
# another size (a host with little disk; bench/memory_load.py, to reach the limit within its run).
FILE_CACHE_MAX_AGE_S = 3600
FILE_CACHE_MAX_BYTES = float(os.environ.get("GENLAB_FILE_CACHE_MB") or 100) * 2**20
FILE_CACHE_SWEEP_S = 30  # how often the file cache is swept


def _remove_cached(path: str, cache_root: Path) -> bool:
    """Delete one file Gradio wrote, and its folder (`<cache>/<hash>/<name>`) once empty."""
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    folder = Path(path).parent
    if folder.parent == cache_root:  # never a folder outside the cache, nor the cache itself
        with contextlib.suppress(OSError):  # not empty: another file shares the folder
            folder.rmdir()
    return True


def sweep_file_cache(blocks: gr.Blocks, max_age_s: float = FILE_CACHE_MAX_AGE_S,
                     max_bytes: float = FILE_CACHE_MAX_BYTES) -> dict[str, int]:
    """Delete the files `blocks` wrote (outputs, uploads) that are older than `max_age_s`, then,
    while the rest hold more than `max_bytes`, the oldest, generated files before uploads, down to
    80% of it. Files a component shows by default or as examples stay. Returns what is left and what
    went: {"files", "bytes", "deleted"}.
    """
    cache_root = Path(blocks.GRADIO_CACHE).resolve()
    keep: set[str] = set()
    for block in list(blocks.blocks.values()):
        keep.update(getattr(block, "keep_in_cache", ()))
    uploads = blocks.upload_file_set
    owners: dict[str, list[set]] = {}  # path -> the sets that hold it (a picture can be in several)
    for files in list(blocks.temp_file_sets):
        for path in files.copy():  # requests add files while this runs
            owners.setdefault(path, []).append(files)
    now, deleted, kept = time.time(), 0, []
    for path, sets in owners.items():
        if path in keep:
            continue
        try:
            stat = os.lstat(path)
        except FileNotFoundError:
            stat = None
        if stat is None or now - stat.st_ctime > max_age_s:
            deleted += stat is not None and _remove_cached(path, cache_root)
            for files in sets:
                files.discard(path)
        else:
            kept.append((any(files is uploads for files in sets), stat.st_ctime, stat.st_size, path, sets))
    total = sum(entry[2] for entry in kept)
    if total > max_bytes:
        kept.sort(key=lambda entry: entry[:2])  # generated before uploaded, oldest first
        while kept and total > 0.8 * max_bytes:
            _, _, size, path, sets = kept.pop(0)
            deleted += _remove_cached(path, cache_root)
            total -= size
            for files in sets:
                files.discard(path)
    return {"files": len(kept), "bytes": int(total), "deleted": int(deleted)}


def file_cache_lifespan(user_lifespan: Any, max_age_s: float, max_bytes: float, every_s: float):
    """A FastAPI lifespan that sweeps the app's file cache (and releases free memory) every `every_s`
    seconds while it serves, and deletes its files when it stops (the next start would not know them)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        async def sweep_forever():
            while True:
                await asyncio.sleep(every_s)
                await anyio.to_thread.run_sync(sweep_file_cache, app.get_blocks(), max_age_s, max_bytes)
                await anyio.to_thread.run_sync(release_free_memory)

        task = asyncio.create_task(sweep_forever())
        try:
            if user_lifespan is None:
                yield None
            else:
                async with user_lifespan(app) as state:
                    yield state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            remove_all_files(app.get_blocks())

    return lifespan


def remove_all_files(blocks: gr.Blocks) -> int:
    """Delete every file `blocks` wrote, first views and examples too (the server is stopping)."""
    cache_root = Path(blocks.GRADIO_CACHE).resolve()
    deleted = sweep_file_cache(blocks, max_age_s=-1, max_bytes=float("inf"))["deleted"]
    for block in list(blocks.blocks.values()):
        for path in list(getattr(block, "keep_in_cache", ())):
            if Path(path).resolve().is_relative_to(cache_root):
                deleted += _remove_cached(path, cache_root)
    return deleted


def delete_files_at_exit(blocks_ref: Callable[[], Any], max_bytes: float) -> None:
    blocks = blocks_ref()
    if blocks is not None:
        remove_all_files(blocks)
