"""A shared "pick an image" widget: a random sample, a drawing, an upload or a test image.

The picker only describes what the user chose; `resolve` turns that choice into what one model
sees (the image prepared like its training data) and `to_latents` into that model's latents:
the VAE encodes (posterior mean), the GAN, which has no encoder, is inverted by optimizing z.
A random sample needs neither: each model draws its own latent from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr
import torch

from genlab.data import ImageData
from genlab.preprocess import PreprocessError, prepare_image, style_for
from genlab.service import INVERSION_RESTARTS, MAX_INVERSION_STEPS, LatentResult, ModelService, gallery_indices
from genlab.ui.images import picture, to_pil
from genlab.ui.uploads import Drawing, ImageUpload
from genlab.ui.shell import Shell, user_error

RANDOM, DRAW, UPLOAD, TEST = "Random sample", "Draw", "Upload", "Test image"
SOURCES = (RANDOM, DRAW, UPLOAD, TEST)
GALLERY_SIZE = 16  # test images shown per picker
__all__ = ["INVERSION_RESTARTS", "MAX_INVERSION_STEPS", "gallery_indices"]  # re-exported for the tabs

# ----------------------------------------------------------------------------- test images


def gallery_items(data: ImageData, indices: list[int]) -> list[tuple[Any, str]]:
    """(picture, caption) pairs for a gr.Gallery; the caption names the test index and the class."""
    items = []
    for i in indices:
        label = int(data.labels[i])
        name = data.class_names[label] if label < len(data.class_names) else str(label)
        items.append((to_pil(data.images[i], 84), f"#{i} · {name}"))
    return items


# ----------------------------------------------------------------------------- the choice


@dataclass
class Endpoint:
    """What one model gets from a picker: an image to encode/invert, or a latent drawn from a seed."""

    image: torch.Tensor  # (C, H, W) in [0, 1]: the prepared input (for a random sample, its decoding)
    latent: torch.Tensor | None = None  # (D,) when known without encoding (random samples)
    description: str = ""


def resolve(shell: Shell, service: ModelService, source: Any, upload: Any, drawing: Any, test_index: Any,
            seed: Any, what: str = "the image") -> Endpoint:
    """The picker's choice as seen by `service`'s model. Raises a user error with a clear sentence."""
    channels, size, _ = service.image_shape
    if source == RANDOM:
        seed = shell.seed(seed)
        z = service.sample_latents(1, seed)
        return Endpoint(service.decode(z)[0], z[0], f"a random sample (seed {seed})")
    if source == TEST:
        data = shell.test_images(service)
        index = shell.int_in_range(test_index, "Test image number", 0, len(data) - 1)
        return Endpoint(data.images[index], None, f"test image #{index}")
    if source == DRAW:
        raw, kind = drawing, "drawing"
    elif source == UPLOAD:
        raw, kind = upload, "uploaded image"
    else:
        raise user_error(f"Pick where {what} comes from: one of {', '.join(SOURCES)} (got {source!r}).")
    if raw is None:
        raise user_error(f"There is no {kind} for {what} yet: "
                         + ("draw on the canvas." if source == DRAW else "upload a picture."))
    try:
        image = prepare_image(raw, image_size=size, channels=channels, style=style_for(service.dataset))
    except PreprocessError as e:
        raise user_error(str(e) if what == "the image" else f"{what[0].upper()}{what[1:]}: {e}") from None
    return Endpoint(image, None, f"your {kind}")


# ----------------------------------------------------------------------------- to latents


def to_latents(shell: Shell, service: ModelService, endpoints: list[Endpoint], inversion_steps: int,
               progress: Callable[[int, int], None] | None = None) -> LatentResult:
    """Latents (B, D) for the endpoints: drawn (random samples keep their own latent), encoded (VAE)
    or found by inversion (GAN, cached by the service). Errors are None for random samples."""
    known = [e.latent for e in endpoints]
    todo = [i for i, z in enumerate(known) if z is None]
    if not todo:
        z = torch.stack(known)  # type: ignore[arg-type]
        return LatentResult(z, service.decode(z), [None] * len(endpoints),  # type: ignore[list-item]
                            "Random samples are decoded from their own latent.", None)
    found = shell.serve(service.to_latents, torch.stack([endpoints[i].image for i in todo]), inversion_steps,
                        progress)
    latents, errors = list(known), [None] * len(endpoints)
    for j, i in enumerate(todo):
        latents[i], errors[i] = found.latents[j], found.errors[j]
    z = torch.stack(latents)  # type: ignore[arg-type]
    return LatentResult(z, service.decode(z), errors, found.how, found.seconds)  # type: ignore[arg-type]


def gradio_progress(progress: Any, description: str) -> Callable[[int, int], None]:
    """Adapt a gr.Progress to the `progress(step, steps)` callback of `genlab.latent.invert`."""
    def report(step: int, steps: int) -> None:
        progress((step, steps), desc=description, unit="steps")
    return report


# ----------------------------------------------------------------------------- the widget


@dataclass
class ImagePicker:
    """The components of one picker. `inputs` is what `resolve` takes after the model."""

    source: Any
    seed: Any
    drawing: Any
    upload: Any
    test_index: Any
    gallery: Any
    prepared: Any  # gr.Image: the prepared input, what the model sees
    note: Any  # gr.Markdown under it

    @property
    def inputs(self) -> list:
        return [self.source, self.upload, self.drawing, self.test_index, self.seed]


def prepare_input(shell: Shell, model_name: Any, source: Any, upload: Any, drawing: Any, test_index: Any,
                  seed: Any) -> tuple[Any, str]:
    """The picked image prepared for `model_name`, as a picture, and a sentence about it.

    An input that is not there yet (nothing drawn, nothing uploaded) or cannot be used (an empty
    drawing, a file that is not an image) is described in the sentence, with no picture: this runs
    on every stroke, so it must not pop up errors. Bad numbers and unknown models are errors.
    """
    service = shell.model(model_name)
    try:
        endpoint = resolve(shell, service, source, upload, drawing, test_index, seed)
    except gr.Error as e:
        if source in (DRAW, UPLOAD):
            return None, f"⚠️ {e.message}"
        raise
    size = service.image_shape[1]
    return to_pil(endpoint.image, 112), f"What the model sees: {endpoint.description}, {size}×{size} pixels."


def build_picker(shell: Shell, label: str, default_seed: int = 0, api_name: str | None = None,
                 elem_id: str | None = None) -> ImagePicker:
    """Lay out a picker (inside the caller's layout) and wire its preview.

    `api_name` names the preview event in the API (`prepare_input`); one picker per app should
    have it, the others are private. `elem_id` names the picker's box in the page.
    """
    with gr.Group(elem_id=elem_id):
        gr.Markdown(f"**{label}**")
        source = gr.Radio(list(SOURCES), value=RANDOM, label="From", container=False)
        with gr.Column(visible=True) as random_box:
            seed = gr.Number(default_seed, label="Seed of the random sample", minimum=0, step=1)
        with gr.Column(visible=False) as draw_box:
            drawing = Drawing(label="Draw (white background, dark strokes)", canvas_size=(280, 280), height=330,
                              brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=14),
                              layers=False, format="png")
        with gr.Column(visible=False) as upload_box:
            upload = ImageUpload(label="Upload a picture", sources=["upload", "clipboard"], format="png", height=220)
        with gr.Column(visible=False) as test_box:
            gallery = gr.Gallery(label="Click a test image", columns=8, height=190, allow_preview=False,
                                 format="png", interactive=False, object_fit="contain", buttons=[])
            test_index = gr.Number(0, label="Test image number", minimum=0, step=1)
        with gr.Row():
            prepared = picture("What the model sees", height=130, buttons=[])
        note = gr.Markdown("")

    boxes = {RANDOM: random_box, DRAW: draw_box, UPLOAD: upload_box, TEST: test_box}

    def show_box(choice):
        return [gr.Column(visible=choice == name) for name in boxes]

    source.change(show_box, source, list(boxes.values()), api_visibility="private")

    # The test images are shown when asked for (the source "Test image"), not with every page: a page
    # holds several pickers, and each gallery would add its pictures to every page open.
    def fill_gallery(model_name, choice):
        if choice != TEST:
            return gr.Gallery(value=[])
        return dataset_gallery(shell, model_name, label="Click a test image")

    source.change(fill_gallery, [shell.model_picker, source], gallery, api_visibility="private",
                  show_progress="hidden")
    shell.on_model_change(fill_gallery, [shell.model_picker, source], gallery)

    def pick_from_gallery(model_name, evt: gr.SelectData):
        return gallery_indices(shell.test_images(shell.model(model_name)).labels)[evt.index]

    gallery.select(pick_from_gallery, [shell.model_picker], test_index, api_visibility="private")

    def preview(model_name, source, upload, drawing, test_index, seed):
        return prepare_input(shell, model_name, source, upload, drawing, test_index, seed)

    triggers = [source.change, seed.change, drawing.change, upload.change, test_index.change]
    visibility = "public" if api_name else "private"
    gr.on(triggers, preview, [shell.model_picker, *[source, upload, drawing, test_index, seed]],
          [prepared, note], api_name=api_name, api_visibility=visibility, show_progress="hidden",
          trigger_mode="always_last")
    shell.on_model_change(preview, [shell.model_picker, source, upload, drawing, test_index, seed],
                          [prepared, note])
    return ImagePicker(source, seed, drawing, upload, test_index, gallery, prepared, note)


def dataset_gallery(shell: Shell, model_name: Any, count: int = GALLERY_SIZE, label: str | None = None) -> gr.Gallery:
    """A gallery update showing `count` test images of the model's dataset, a few of each class."""
    service = shell.store.services.get(model_name) if model_name else None
    if service is None:
        return gr.Gallery(value=[])
    try:
        data = shell.test_images(service)
    except gr.Error:
        return gr.Gallery(value=[], label=f"No test images for {service.dataset}")
    return gr.Gallery(value=gallery_items(data, gallery_indices(data.labels, count)), label=label)
