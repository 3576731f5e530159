"""Inputs from strangers: image inputs that check a file before decoding it, and a Blocks in which
any input that cannot be read ends in one clear sentence.

A public demo gets everything: text named .png, truncated files, decompression bombs, SVGs with
scripts, NaN for a seed, a list for a slider, links instead of uploads. Gradio's own image inputs
decode the whole file before our code sees it (a 100-megapixel bomb is decoded in full), drop
transparency, and report what they cannot read as a bare "Error"; so do its number inputs.

- `ImageUpload` and `Drawing` are gr.Image and gr.Sketchpad (the browser draws them the same) whose
  values are PIL images opened by `genlab.preprocess.open_image`: size checked from the header,
  only raster formats, damage and bombs refused in one sentence, transparency kept.
- `GuardedBlocks` is gr.Blocks where a value a component cannot take ("Seed must be a finite number
  of at least 0; got nan.") or too few values end in a gr.Error that says which input and why, and
  where a link given as a file is refused instead of fetched by the server.

It also keeps a served app's memory and disk flat under a classroom's load (issue 18):
- Gradio builds, for every new session, the config of every block of the page (`SessionState`:
  475 KiB and ~60 ms of CPU for Genlab's 276 blocks), and an HTTP API call that names no session
  gets a new session that Gradio keeps (up to 10,000 of them): +0.47 MiB of memory per request.
  Here a session builds a block's config only when it is read or changed (`LeanSessionState`), a
  session made for one API call is forgotten when the call ends, and at most MAX_SESSIONS are kept.
- Gradio keeps every file it writes (outputs, uploads), one folder each, for good; here files
  older than FILE_CACHE_MAX_AGE_S go, then the oldest while they exceed FILE_CACHE_MAX_BYTES
  (generated files before uploads), each with its folder (`sweep_file_cache`), and all of them
  when the server stops.
- The C allocator keeps what the worker threads free: large blocks are kept out of its arenas
  (`keep_large_blocks_out_of_arenas`) and what it keeps is handed back at every sweep
  (`release_free_memory`).

Gradio internals overridden here, each because Gradio 6.31 has no public hook for it (the pin in
requirements.txt and the parity tests in tests/test_security.py and tests/test_memory.py guard them):
- `gradio.component_meta.create_or_modify_pyi`, only while `ImageUpload` and `Drawing` are defined:
  defining a component class writes a .pyi stub into the package, which an app must not do.
- `Blocks._format_processing_error` and `Blocks.preprocess_data`: the only places where a value a
  component cannot take is turned into a message; Gradio's own is a bare "Error".
- `Blocks.process_api` and the state holder (`LeanStateHolder`): the only place where a session
  made for one API call can be forgotten, and where sessions are built.
- `state_holder` (a property of Blocks that Gradio's server sets): to make the holder lean in place.
The file-cache sweep goes through public API (a lifespan in `launch`'s `app_kwargs`), and the
checked image inputs are component subclasses (`ImageUpload`, `Drawing`), not patches.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import collections
import contextlib
import ctypes
import os
import re
import time
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import anyio.to_thread
import gradio as gr
import gradio.component_meta
from gradio.components.base import server
from gradio.exceptions import ComponentProcessingError, InvalidPathError
from gradio.state_holder import SessionState, StateHolder

from genlab.preprocess import MAX_PIXELS, PreprocessError, open_image
from genlab.ui.shell import describe, user_error

MAX_FILE_SIZE = "10mb"  # for demo.launch(max_file_size=...): larger uploads get HTTP 413
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the same, for pictures sent inline (data: URLs, drawing blobs)
MAX_PENDING_DRAWINGS = 256  # drawings sent by browsers and not yet used, kept per Drawing component
# What the file inputs accept (a browser's file dialog and the server both check). No SVG: it can hold scripts.
IMAGE_FILE_TYPES = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"]
# What a served app keeps (GuardedBlocks): sessions, least recently used forgotten first (a browser
# tab touches its own at every event, so only long-idle ones go) ...
MAX_SESSIONS = 1000
# Gradio keeps the message queues of its last 2,000 sessions, a session's from its first event on,
# however busy it still is: 2,000 single API calls later, a browser tab's queue is dropped, and an
# event it has in flight then fails. The queues of single calls go once 256 more have ended.
ONE_SHOT_QUEUES_KEPT = 256
# ... and the files Gradio writes (outputs, uploads). An hour covers a lesson in which a picture
# uploaded at its start is still used; 100 MiB holds the files of ~10,000 requests of
# bench/memory_load.py's classroom (~10 KiB each), ten minutes of 20 busy clients, so only under such
# a load do files go before their hour. GENLAB_FILE_CACHE_MB sets
# another size (a host with little disk; bench/memory_load.py, to reach the limit within its run).
FILE_CACHE_MAX_AGE_S = 3600
FILE_CACHE_MAX_BYTES = float(os.environ.get("GENLAB_FILE_CACHE_MB") or 100) * 2**20
FILE_CACHE_SWEEP_S = 30  # how often the file cache is swept


def _data_url_bytes(url: str) -> bytes:
    """The bytes of a base64 `data:` URL, refusing more than MAX_UPLOAD_BYTES."""
    _, _, encoded = url.partition(",")
    if len(encoded) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise user_error(f"The picture is larger than {MAX_UPLOAD_BYTES // 2**20} MB; please use a smaller one.")
    try:
        return base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raise user_error("The picture sent inline is not valid base64 data.") from None


def read_image(file: Any):
    """A file of an image input (FileData, inline data: URL, or raw bytes) -> a decoded PIL image.

    Raises a gr.Error with one sentence when it is not a picture Genlab can use.
    """
    if isinstance(file, (bytes, bytearray, memoryview)):
        source: Any = bytes(file)
        if len(source) > MAX_UPLOAD_BYTES:
            raise user_error(f"The picture is larger than {MAX_UPLOAD_BYTES // 2**20} MB; please use a smaller one.")
    elif getattr(file, "path", None):
        source = file.path
    elif str(getattr(file, "url", None) or "").startswith("data:"):
        source = _data_url_bytes(file.url)
    else:
        raise user_error("The picture has neither a file nor inline data: upload it again.")
    try:
        return open_image(source, MAX_PIXELS)
    except PreprocessError as e:
        raise user_error(str(e)) from None


# Gradio writes a .pyi stub beside the module of every component class defined (a tool for authors of
# custom components); an app must not write into its own package, so that is off while ours are defined.
_write_stub, gradio.component_meta.create_or_modify_pyi = gradio.component_meta.create_or_modify_pyi, lambda *a: None


class ImageUpload(gr.Image):
    """gr.Image for pictures people upload: the value is a PIL image in its own mode, checked first.

    Takes gr.Image's arguments except `type` and `image_mode` (the handlers get a PIL image, which
    genlab.preprocess.prepare_image reads whatever its mode, transparency or EXIF orientation).
    """

    is_template = True  # drawn in the browser as a gr.Image

    def __init__(self, value: Any = None, **kwargs: Any):
        super().__init__(value, type="pil", image_mode=None, **kwargs)

    def get_config(self, cls: Any = None) -> dict[str, Any]:
        return super().get_config(cls or gr.Image)  # the props the browser reads are gr.Image's arguments

    def preprocess(self, payload: Any) -> Any:
        return None if payload is None else read_image(payload)


class Drawing(gr.Sketchpad):
    """gr.Sketchpad whose value is {"background", "layers", "composite"} of checked PIL images.

    The images keep their transparency (prepare_image puts a contrasting background under the strokes).
    """

    def __init__(self, value: Any = None, **kwargs: Any):
        super().__init__(value, type="pil", image_mode="RGBA", **kwargs)

    def get_config(self, cls: Any = None) -> dict[str, Any]:
        return super().get_config(cls or gr.Sketchpad)  # the props the browser reads are gr.Sketchpad's arguments

    def get_block_name(self) -> str:
        return "imageeditor"  # gr.Sketchpad is a template of gr.ImageEditor; so is this

    def get_block_class(self) -> str:
        return "imageeditor"

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        parts: Any = payload
        if payload.id is not None:  # the browser sent the images beforehand (accept_blobs)
            parts = self.blob_storage.pop(payload.id, None)
            if parts is None:
                return {"background": None, "layers": [], "composite": None}
        background = read_image(parts.background) if parts.background is not None else None
        layers = [read_image(layer) for layer in (parts.layers or []) if layer is not None]
        composite = read_image(parts.composite) if parts.composite is not None else None
        return {"background": background, "layers": layers, "composite": composite}

    @server
    def accept_blobs(self, data: Any):
        """Gradio's, with limits: one image at most MAX_UPLOAD_BYTES, at most MAX_PENDING_DRAWINGS kept."""
        if any(len(content) > MAX_UPLOAD_BYTES for _, content in data.files):
            raise user_error(f"The drawing is larger than {MAX_UPLOAD_BYTES // 2**20} MB.")
        while len(self.blob_storage) >= MAX_PENDING_DRAWINGS and data.data["id"] not in self.blob_storage:
            self.blob_storage.pop(next(iter(self.blob_storage)))  # the oldest: dicts keep insertion order
        return super().accept_blobs(data)


gradio.component_meta.create_or_modify_pyi = _write_stub


# ----------------------------------------------------------------------------- messages


def _label(block: Any) -> str:
    label = getattr(block, "label", None)
    return str(label) if label else f"The {block.get_block_name()} input"


def unusable_value(block: Any, value: Any) -> str:
    """One sentence: `block` cannot take `value` (which input, what it takes, what it got)."""
    label, got = _label(block), describe(value)
    if isinstance(block, (gr.Number, gr.Slider)):
        low, high = block.minimum, block.maximum
        span = (f" from {low:g} to {high:g}" if low is not None and high is not None
                else f" of at least {low:g}" if low is not None
                else f" of at most {high:g}" if high is not None else "")
        return f"{label} must be a finite number{span}; got {got}."
    if isinstance(block, (gr.Image, gr.ImageEditor, gr.File)):
        return f"{label}: expected an uploaded picture (send the file to /gradio_api/upload first); got {got}."
    if isinstance(block, gr.Checkbox):
        return f"{label} must be true or false; got {got}."
    return f"{label} cannot take the value {got}."


def _is_link(path: Any) -> bool:
    return isinstance(path, str) and path.strip().lower().startswith(("http://", "https://", "//", "ftp://"))


def refuse_links(value: Any) -> None:
    """Refuse a file given as a link: Gradio would download it, so the server would fetch for anyone."""
    if isinstance(value, dict):
        if _is_link(value.get("path")):
            raise user_error("Genlab takes uploaded files, not links: upload the picture itself.")
        for v in value.values():
            refuse_links(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            refuse_links(v)


# ----------------------------------------------------------------------------- sessions and files


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


def _file_cache_lifespan(user_lifespan: Any, max_age_s: float, max_bytes: float, every_s: float):
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
            sweep_file_cache(app.get_blocks(), max_age_s=-1, max_bytes=max_bytes)

    return lifespan


def _delete_files_at_exit(blocks_ref: Callable[[], Any], max_bytes: float) -> None:
    blocks = blocks_ref()
    if blocks is not None:
        sweep_file_cache(blocks, max_age_s=-1, max_bytes=max_bytes)


class GuardedBlocks(gr.Blocks):
    """gr.Blocks in which an input that cannot be read ends in one clear sentence, not a bare "Error",
    and whose sessions and files stay bounded while it serves.

    Gradio reports a value its component cannot preprocess (NaN for a whole number, text for a
    slider, a list for an image, too few values, a file that was never uploaded) without a message;
    here the message names the input and says what it takes. Links given as files are refused.

    Sessions are LeanSessionState, a session made for a single API call (one that named no session)
    is forgotten when the call ends, `launch` keeps at most MAX_SESSIONS (unless given
    `state_session_capacity`), and it sweeps the file cache (`sweep_file_cache`) and releases free
    memory (`release_free_memory`) every `file_cache_sweep_s` seconds with the limits given here
    (None: never).
    """

    def __init__(self, *args: Any, file_cache_max_age_s: float = FILE_CACHE_MAX_AGE_S,
                 file_cache_max_bytes: float = FILE_CACHE_MAX_BYTES,
                 file_cache_sweep_s: float | None = FILE_CACHE_SWEEP_S, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.file_cache_limits = (file_cache_max_age_s, file_cache_max_bytes, file_cache_sweep_s)
        self._ended_one_shot: collections.deque[str] = collections.deque()

    # Gradio's server makes its StateHolder and hands it to the Blocks (StateHolder.set_blocks); the
    # server reads sessions through that same object, so it is made lean in place.
    @property
    def state_holder(self) -> StateHolder:
        return self._state_holder

    @state_holder.setter
    def state_holder(self, holder: StateHolder) -> None:
        if type(holder) is StateHolder:
            holder.__class__ = LeanStateHolder
        self._state_holder = holder

    def launch(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("state_session_capacity", MAX_SESSIONS)
        keep_large_blocks_out_of_arenas()  # for the whole process: it serves
        max_age_s, max_bytes, every_s = self.file_cache_limits
        if every_s:
            app_kwargs = dict(kwargs.get("app_kwargs") or {})
            app_kwargs["lifespan"] = _file_cache_lifespan(app_kwargs.get("lifespan"), max_age_s, max_bytes, every_s)
            kwargs["app_kwargs"] = app_kwargs
            # Gradio waits 5 s for its server to stop, then the process ends: the lifespan's end may
            # not run, so the files also go when Python exits.
            atexit.register(_delete_files_at_exit, weakref.ref(self), max_bytes)
        return super().launch(*args, **kwargs)

    async def process_api(self, block_fn, inputs, state=None, request=None, iterator=None,
                          session_hash=None, event_id=None, *args, **kwargs):
        # The queue names a call that came without a session after the call itself (its event id):
        # nobody can come back to that session, so it goes when the call ends.
        one_shot = session_hash is not None and session_hash == event_id
        try:
            result = await super().process_api(block_fn, inputs, state, request, iterator,
                                                session_hash, event_id, *args, **kwargs)
        except BaseException:
            if one_shot:
                self._forget_session(session_hash)
            raise
        if one_shot and not (isinstance(result, dict) and result.get("is_generating")):
            self._forget_session(session_hash)
        return result

    def _forget_session(self, session_hash: str) -> None:
        holder = getattr(self, "_state_holder", None)
        if isinstance(holder, LeanStateHolder):
            holder.forget(session_hash)
        # Its message queue is still read until the caller has the result: it goes later.
        self._ended_one_shot.append(session_hash)
        while len(self._ended_one_shot) > ONE_SHOT_QUEUES_KEPT:
            ended = self._ended_one_shot.popleft()
            self._queue.pending_messages_per_session.pop(ended, None)
            self._queue.pending_event_ids_session.pop(ended, None)

    @staticmethod
    def _format_processing_error(block_fn, index, block, value, is_input, original_error) -> str:
        if is_input:
            return unusable_value(block, value)
        return gr.Blocks._format_processing_error(block_fn, index, block, value, is_input, original_error)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            refuse_links(inputs)
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as e:  # Gradio's own checks: "Value 17 is greater than maximum value 16." ...
            message = str(e.message)
            if "(type: <class" in message:  # ... "Value: 5 (type: <class 'int'>) is not in the list of choices"
                raise user_error(re.sub(r" \(type: <class '[\w.]+'>\)", "", message)) from None
            raise
        except ComponentProcessingError as e:  # its message is ours (_format_processing_error above)
            raise user_error(str(e)) from None
        except InvalidPathError:
            raise user_error("A file in this request was not uploaded to Genlab: upload it first.") from None
        except Exception:  # noqa: BLE001 - too few values, or a value of the wrong shape for its component
            raise user_error(_wrong_inputs(block_fn, inputs)) from None


def _wrong_inputs(block_fn: Any, inputs: list[Any]) -> str:
    """The sentence for inputs Gradio could not even validate: too few, or one of the wrong shape."""
    blocks = [b for b in block_fn.inputs if not getattr(b, "stateful", False)]
    wanted = ", ".join(_label(b) for b in blocks)
    if len(inputs) < len(block_fn.inputs):
        return f"This needs {len(blocks)} values ({wanted}); got {len(inputs)}."
    for block, value in zip(block_fn.inputs, inputs):
        model = getattr(block, "data_model", None)
        if model is None or value is None:
            continue
        try:
            model.model_validate(value)
        except Exception:  # noqa: BLE001 - pydantic's ValidationError, or a TypeError for odd values
            return unusable_value(block, value)
    return f"These inputs cannot be used; this takes: {wanted}."
