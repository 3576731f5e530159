"""What genlab/ui/gradio_overrides.py and genlab/ui/sessions.py rely on inside Gradio, checked one by
one: a Gradio upgrade that renames or reshapes any of it fails here, before the app misbehaves."""

from __future__ import annotations

import inspect

import gradio as gr
import gradio.component_meta
import gradio.state_holder
import pytest

from genlab.ui import gradio_overrides, sessions


def _parameters(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_the_overridden_blocks_methods_keep_their_signatures():
    assert _parameters(gr.Blocks.process_api)[:8] == ["self", "block_fn", "inputs", "state", "request", "iterator",
                                                      "session_hash", "event_id"]
    assert _parameters(gr.Blocks.preprocess_data) == ["self", "block_fn", "inputs", "state", "explicit_call"]
    assert _parameters(gr.Blocks._format_processing_error) == ["block_fn", "index", "block", "value", "is_input",
                                                              "original_error"]
    assert inspect.iscoroutinefunction(gr.Blocks.process_api)
    assert inspect.iscoroutinefunction(gr.Blocks.preprocess_data)


def test_the_session_holder_is_still_what_the_lean_one_extends():
    holder = gradio.state_holder.StateHolder()
    for name in ("session_data", "time_last_used", "lock", "capacity"):
        assert hasattr(holder, name), name
    assert _parameters(gradio.state_holder.SessionState.__init__) == ["self", "blocks"]
    assert isinstance(getattr(gradio.state_holder.SessionState, "components", None), property)
    assert issubclass(sessions.LeanStateHolder, gradio.state_holder.StateHolder)


def test_the_stub_writer_is_still_there_and_is_put_back():
    original = gradio.component_meta.create_or_modify_pyi
    with gradio_overrides.no_stub_files():
        assert gradio.component_meta.create_or_modify_pyi is not original
    assert gradio.component_meta.create_or_modify_pyi is original


def test_a_guarded_app_gets_a_lean_state_holder(tmp_path):
    demo = gradio_overrides.GuardedBlocks(file_cache_sweep_s=None)
    with demo:
        gr.Number(0)
    demo.state_holder = gradio.state_holder.StateHolder()
    assert isinstance(demo.state_holder, sessions.LeanStateHolder)


@pytest.mark.parametrize("name", ["max_size", "default_concurrency_limit"])
def test_the_public_queue_settings_used_exist(name):
    assert name in _parameters(gr.Blocks.queue)
