"""Session memory: what a served app keeps per visitor stays bounded under a classroom's load.

- Gradio builds, for every new session, the config of every block of the page (`SessionState`:
  475 KiB and ~60 ms of CPU for Genlab's 276 blocks), and an HTTP API call that names no session
  gets a new session that Gradio keeps (up to 10,000 of them): +0.47 MiB of memory per request.
  Here a session builds a block's config only when it is read or changed (`LeanSessionState`), a
  session made for one API call is forgotten when the call ends (`GuardedBlocks`), and at most
  MAX_SESSIONS are kept (Gradio's public `state_session_capacity`).
- The C allocator keeps what the worker threads free: large blocks are kept out of its arenas
  (`keep_large_blocks_out_of_arenas`) and what it keeps is handed back at every file-cache sweep
  (`release_free_memory`).
"""

from __future__ import annotations

import ctypes
from types import SimpleNamespace
from typing import Any

import gradio as gr
from gradio.state_holder import SessionState, StateHolder

# Sessions kept, least recently used forgotten first (a browser tab touches its own at every event,
# so only long-idle ones go) ...
MAX_SESSIONS = 1000
# Gradio keeps the message queues of its last 2,000 sessions, a session's from its first event on,
# however busy it still is: 2,000 single API calls later, a browser tab's queue is dropped, and an
# event it has in flight then fails. The queues of single calls go once 256 more have ended.
ONE_SHOT_QUEUES_KEPT = 256


class LeanSessionState(SessionState):
    """Gradio's SessionState without its copy of every block's config, built when a session starts.

    Only a deep link reads the configs of all blocks; an update of one block reads or writes that
    block's own. So here `config_values` holds what was read or changed, and `components` (the deep
    link's reader) fills in the rest first, from the same blocks the eager copy would have used.
    """

    def __init__(self, blocks: gr.Blocks):
        # Gradio's __init__ copies the configs of the blocks in `blocks.blocks`; given none, it sets
        # every other field as usual and copies nothing.
        super().__init__(SimpleNamespace(default_config=blocks.default_config, blocks={}))
        self._page_blocks = blocks.blocks

    @property
    def components(self):
        for block_id, block in self.blocks_config.blocks.items():
            if block_id in self._page_blocks and block_id not in self.config_values:
                self.config_values[block_id] = self.blocks_config.config_for_block(block_id, [], block)
        return SessionState.components.fget(self)


class LeanStateHolder(StateHolder):
    """Gradio's StateHolder whose new sessions are LeanSessionState, and which can forget one."""

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LeanSessionState(self.blocks)
        return super().__getitem__(session_id)

    def forget(self, session_id: str) -> None:
        with self.lock:
            self.session_data.pop(session_id, None)
            self.time_last_used.pop(session_id, None)


def _find_glibc() -> Any:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
    except OSError:  # not glibc
        return None


_glibc = _find_glibc()
_malloc_trim = _glibc.malloc_trim if _glibc is not None else None
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's initial value, kept


def release_free_memory() -> None:
    """Hand the memory the C allocator keeps after frees back to the system (glibc; elsewhere nothing).

    glibc keeps freed blocks in its per-thread arenas for reuse. With Gradio's worker threads making
    and dropping pictures and tensors of many sizes, resident memory grew by 20-27 MiB per 1,000
    mixed requests, and one trim after 2,000 of them gave back 45 MiB.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def keep_large_blocks_out_of_arenas() -> None:
    """Serve every block of 128 KiB or more from its own mapping, returned to the system when freed.

    glibc starts so, but raises that threshold (up to 32 MiB) each time such a block is freed, after
    which pictures, grids and batches of tensors are carved from the arenas and stay there: with the
    threshold fixed, the same 2,000 mixed requests grew resident memory by 12.9 MiB per 1,000
    instead of 24.2 (run side by side), and the app started ~100 MiB smaller after its warm-up.
    """
    if _glibc is not None:
        _glibc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
