"""Pictures from strangers: image inputs that check a file before decoding it.

A public demo gets everything: text named .png, truncated files, decompression bombs, SVGs with
scripts, links instead of uploads. Gradio's own image inputs decode the whole file before our code
sees it (a 100-megapixel bomb is decoded in full) and drop transparency; here `ImageUpload` and
`Drawing` are gr.Image and gr.Sketchpad (the browser draws them the same) whose values are PIL
images opened by `genlab.preprocess.open_image`: size checked from the header, only raster formats,
damage and bombs refused in one sentence, transparency kept. Uploads are limited by Gradio's own
`max_file_size` (MAX_FILE_SIZE, given to `launch`); a link given as a file is refused
(`genlab.ui.messages.refuse_links`), never fetched by the server.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import gradio as gr
from gradio.components.base import server

from genlab.preprocess import MAX_PIXELS, PreprocessError, open_image
from genlab.ui.gradio_overrides import no_stub_files
from genlab.ui.shell import user_error

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


with no_stub_files():  # defining a component class must not write into the installed Gradio
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
