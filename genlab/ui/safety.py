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
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import gradio as gr
import gradio.component_meta
from gradio.components.base import server
from gradio.exceptions import ComponentProcessingError, InvalidPathError

from genlab.preprocess import MAX_PIXELS, PreprocessError, open_image
from genlab.ui.shell import describe, user_error

MAX_FILE_SIZE = "10mb"  # for demo.launch(max_file_size=...): larger uploads get HTTP 413
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the same, for pictures sent inline (data: URLs, drawing blobs)
MAX_PENDING_DRAWINGS = 256  # drawings sent by browsers and not yet used, kept per Drawing component
# What the file inputs accept (a browser's file dialog and the server both check). No SVG: it can hold scripts.
IMAGE_FILE_TYPES = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"]


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


class GuardedBlocks(gr.Blocks):
    """gr.Blocks in which an input that cannot be read ends in one clear sentence, not a bare "Error".

    Gradio reports a value its component cannot preprocess (NaN for a whole number, text for a
    slider, a list for an image, too few values, a file that was never uploaded) without a message;
    here the message names the input and says what it takes. Links given as files are refused.
    """

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
