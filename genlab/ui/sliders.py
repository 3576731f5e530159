"""Tab module (being built in this session)."""

from __future__ import annotations

import gradio as gr

from genlab.ui.shell import Shell


def build(shell: Shell) -> None:
    gr.Markdown("Coming in this session.")
