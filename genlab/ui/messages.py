"""One sentence for an input a component cannot take: which input, what it takes, what it got.

Gradio reports a value its component cannot preprocess (NaN for a whole number, text for a slider,
a list for an image, too few values, a file that was never uploaded) as a bare "Error"; these are
the messages `genlab.ui.gradio_overrides.GuardedBlocks` shows instead. A file given as a link is
refused with one sentence (`refuse_links`): Gradio would download it, so the server would fetch
for anyone.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from genlab.ui.shell import describe, user_error


def label_of(block: Any) -> str:
    label = getattr(block, "label", None)
    return str(label) if label else f"The {block.get_block_name()} input"


def unusable_value(block: Any, value: Any) -> str:
    """One sentence: `block` cannot take `value` (which input, what it takes, what it got)."""
    label, got = label_of(block), describe(value)
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


def wrong_inputs(block_fn: Any, inputs: list[Any]) -> str:
    """The sentence for inputs Gradio could not even validate: too few, or one of the wrong shape."""
    blocks = [b for b in block_fn.inputs if not getattr(b, "stateful", False)]
    wanted = ", ".join(label_of(b) for b in blocks)
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
