"""The few Gradio internals Genlab still overrides, each because Gradio 6.31 has no public hook for it.

Everything else stands on Gradio's public API: upload limits (`max_file_size`), sessions kept
(`state_session_capacity`), the file cache (a lifespan in `app_kwargs`), queue and concurrency
(`queue(max_size=...)`, `concurrency_limit`/`concurrency_id`), first views as initial values.
What is left, and why:

- `gradio.component_meta.create_or_modify_pyi`, only while `ImageUpload` and `Drawing` are defined
  (`no_stub_files`): defining a component class writes a .pyi stub into the installed package,
  which an app must not do.
- `Blocks._format_processing_error` and `Blocks.preprocess_data`: the only places where a value a
  component cannot take is turned into a message; Gradio's own is a bare "Error"
  (genlab.ui.messages writes ours). `preprocess_data` also refuses links given as files.
- `Blocks.process_api`: the only place where a session made for one API call can be forgotten
  when the call ends.
- `Blocks.state_holder` (a property Gradio's server sets): so that sessions are built lean
  (`genlab.ui.sessions.LeanStateHolder`).

tests/test_gradio_overrides.py checks each of these still exists with the signature used here, so
a Gradio upgrade that changes one fails there first.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import inspect
import re
import weakref
from typing import Any, Iterator

import gradio as gr
import gradio.component_meta
from gradio.exceptions import ComponentProcessingError, InvalidPathError
from gradio.state_holder import StateHolder

from genlab.ui.file_cache import (FILE_CACHE_MAX_AGE_S, FILE_CACHE_MAX_BYTES, FILE_CACHE_SWEEP_S,
                                   delete_files_at_exit, file_cache_lifespan)
from genlab.ui.messages import refuse_links, unusable_value, wrong_inputs
from genlab.ui.sessions import MAX_SESSIONS, ONE_SHOT_QUEUES_KEPT, LeanStateHolder, keep_large_blocks_out_of_arenas
from genlab.ui.shell import user_error


@contextlib.contextmanager
def no_stub_files() -> Iterator[None]:
    """While open, defining a gr.Component subclass writes no .pyi stub into Gradio's package."""
    write_stub = gradio.component_meta.create_or_modify_pyi
    gradio.component_meta.create_or_modify_pyi = lambda *args: None
    try:
        yield
    finally:
        gradio.component_meta.create_or_modify_pyi = write_stub


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
            app_kwargs["lifespan"] = file_cache_lifespan(app_kwargs.get("lifespan"), max_age_s, max_bytes, every_s)
            kwargs["app_kwargs"] = app_kwargs
            # Gradio waits 5 s for its server to stop, then the process ends: the lifespan's end may
            # not run, so the files also go when Python exits.
            atexit.register(delete_files_at_exit, weakref.ref(self), max_bytes)
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
            given = len(inputs) if isinstance(inputs, list) else None
            inputs = with_defaults(block_fn, inputs)
            # An omitted parameter whose default is None ("the model's own") reaches the handler as
            # None: its component (a slider) could not preprocess None, so it checks its own value.
            omitted = [] if given is None else [i for i in range(given, len(inputs)) if inputs[i] is None]
            if omitted:
                inputs = [getattr(block_fn.inputs[i], "value", None) if i in omitted else v
                          for i, v in enumerate(inputs)]
            processed = await super().preprocess_data(block_fn, inputs, state, explicit_call)
            for i in omitted:
                processed[i] = None
            return processed
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
            raise user_error(wrong_inputs(block_fn, inputs)) from None


def with_defaults(block_fn: Any, inputs: list[Any]) -> list[Any]:
    """`inputs` completed with the defaults of the handler's trailing parameters, when a call over
    plain HTTP gave fewer values than the handler takes and every missing one has a default (as
    gradio_client does from the API page)."""
    wanted = len(block_fn.inputs)
    if not isinstance(inputs, list) or len(inputs) >= wanted or block_fn.fn is None:
        return inputs
    try:
        parameters = [p for p in inspect.signature(block_fn.fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return inputs
    missing = parameters[len(inputs):wanted]
    if len(parameters) < wanted or any(p.default is p.empty for p in missing):
        return inputs
    return [*inputs, *(p.default for p in missing)]
