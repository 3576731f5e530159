"""A shared "pick an image" widget: a random sample, a drawing, an upload or a test image.

The picker only describes what the user chose; `resolve` turns that choice into what one model
sees (the image prepared like its training data) and `to_latents` into that model's latents:
the VAE encodes (posterior mean), the GAN, which has no encoder, is inverted by optimizing z.
A random sample needs neither: each model draws its own latent from the seed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr
import torch

from genlab.checkpoints import Checkpoint
from genlab.data import DataError, ImageData, load_dataset
from genlab.latent import decode, encode, invert, sample_latents
from genlab.preprocess import PreprocessError, prepare_image, style_for
from genlab.ui.images import picture, to_pil
from genlab.ui.safety import Drawing, ImageUpload
from genlab.ui.shell import Shell, user_error

RANDOM, DRAW, UPLOAD, TEST = "Random sample", "Draw", "Upload", "Test image"
SOURCES = (RANDOM, DRAW, UPLOAD, TEST)
GALLERY_SIZE = 16  # test images shown per picker
INVERSION_RESTARTS = 4
MAX_INVERSION_STEPS = 1000

# ----------------------------------------------------------------------------- test images

_test_sets: dict[tuple[str, int, int], ImageData] = {}
_test_sets_lock = threading.Lock()


def test_images(dataset: str, image_size: int = 28, channels: int = 1) -> ImageData:
    """The test split of `dataset` at the models' size, loaded once per process (read-only)."""
    key = (dataset, image_size, channels)
    with _test_sets_lock:
        if key not in _test_sets:
            try:
                _test_sets[key] = load_dataset(dataset, "test", image_size=image_size, channels=channels)
            except DataError as e:
                raise user_error(f"The test images of {dataset} are not available: {e}") from None
        return _test_sets[key]


def gallery_indices(labels: torch.Tensor, count: int = GALLERY_SIZE) -> list[int]:
    """`count` test-set indices that cycle through the classes: the first of each class, then the second..."""
    by_class = [torch.nonzero(labels == k).flatten().tolist() for k in sorted(set(labels.tolist()))]
    picked: list[int] = []
    rank = 0
    while len(picked) < min(count, len(labels)):
        for members in by_class:
            if rank < len(members) and len(picked) < count:
                picked.append(members[rank])
        rank += 1
    return picked


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


def resolve(shell: Shell, ckpt: Checkpoint, source: Any, upload: Any, drawing: Any, test_index: Any,
            seed: Any, what: str = "the image") -> Endpoint:
    """The picker's choice as seen by `ckpt`'s model. Raises a user error with a clear sentence."""
    cfg = ckpt.model.config
    if source == RANDOM:
        seed = shell.seed(seed)
        z = sample_latents(1, ckpt.model.latent_dim, seed)
        return Endpoint(decode(ckpt.model, z)[0], z[0], f"a random sample (seed {seed})")
    if source == TEST:
        data = test_images(ckpt.dataset, cfg.image_size, cfg.channels)
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
        image = prepare_image(raw, image_size=cfg.image_size, channels=cfg.channels, style=style_for(ckpt.dataset))
    except PreprocessError as e:
        raise user_error(str(e) if what == "the image" else f"{what[0].upper()}{what[1:]}: {e}") from None
    return Endpoint(image, None, f"your {kind}")


# ----------------------------------------------------------------------------- to latents

# GAN inversions are slow (seconds), deterministic (seeded) and depend only on the model, the image
# and the settings, so they are shared between users and kept for a while.
_inversions: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor, float]] = OrderedDict()
_inversions_lock = threading.Lock()
_MAX_CACHED_INVERSIONS = 256


def _image_key(image: torch.Tensor) -> str:
    return hashlib.sha1(image.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


@dataclass
class Latents:
    latents: torch.Tensor  # (B, D)
    reconstructions: torch.Tensor  # (B, C, H, W): what the model makes of each latent
    errors: list[float | None]  # per-image MSE of the reconstruction (None for random samples)
    how: str  # one sentence: how the latents were found


def to_latents(ckpt: Checkpoint, endpoints: list[Endpoint], inversion_steps: int,
               progress: Callable[[int, int], None] | None = None) -> Latents:
    """Latents (B, D) for the endpoints: drawn (random), encoded (VAE) or found by inversion (GAN)."""
    latents: list[torch.Tensor | None] = [e.latent for e in endpoints]
    todo = [i for i, z in enumerate(latents) if z is None]
    errors: list[float | None] = [None] * len(endpoints)
    how = "Random samples are decoded from their own latent."
    if todo:
        images = torch.stack([endpoints[i].image for i in todo])
        if ckpt.kind == "vae":
            found = encode(ckpt.model, images)
            how = "The VAE encodes each image (the posterior mean)."
        else:
            found, errs, seconds = _invert_cached(ckpt, images, inversion_steps, progress)
            for j, i in enumerate(todo):
                errors[i] = errs[j]
            took = "found earlier" if seconds is None else f"{seconds:.1f} s"
            how = (f"The GAN has no encoder: each image was inverted by optimizing z "
                   f"({inversion_steps} steps × {INVERSION_RESTARTS} restarts, {took}).")
        for j, i in enumerate(todo):
            latents[i] = found[j]
    z = torch.stack(latents)  # type: ignore[arg-type]
    reconstructions = decode(ckpt.model, z)
    if ckpt.kind == "vae":
        for i in todo:
            errors[i] = float((reconstructions[i] - endpoints[i].image).pow(2).mean())
    return Latents(z, reconstructions, errors, how)


def _invert_cached(ckpt: Checkpoint, images: torch.Tensor, steps: int,
                   progress: Callable[[int, int], None] | None) -> tuple[torch.Tensor, list[float], float | None]:
    """Invert the images not inverted before; returns latents, errors, and seconds (None: all cached)."""
    keys = [(ckpt.name, id(ckpt.model), _image_key(im), steps, INVERSION_RESTARTS) for im in images]
    with _inversions_lock:
        cached = {k: _inversions[k] for k in keys if k in _inversions}
    missing = [i for i, k in enumerate(keys) if k not in cached]
    seconds = None
    if missing:
        try:
            result = invert(ckpt.model, images[missing], steps=steps, restarts=INVERSION_RESTARTS, seed=0,
                            progress=progress)
        except ValueError as e:
            raise user_error(f"Could not invert {ckpt.name}: {e}") from None
        seconds = result.seconds
        with _inversions_lock:
            for j, i in enumerate(missing):
                cached[keys[i]] = _inversions[keys[i]] = (result.latents[j], result.reconstructions[j],
                                                          float(result.errors[j]))
            while len(_inversions) > _MAX_CACHED_INVERSIONS:
                _inversions.popitem(last=False)
    latents = torch.stack([cached[k][0] for k in keys])
    return latents, [cached[k][2] for k in keys], seconds


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
    ckpt = shell.model(model_name)
    try:
        endpoint = resolve(shell, ckpt, source, upload, drawing, test_index, seed)
    except gr.Error as e:
        if source in (DRAW, UPLOAD):
            return None, f"⚠️ {e.message}"
        raise
    cfg = ckpt.model.config
    return to_pil(endpoint.image, 112), (f"What the model sees: {endpoint.description}, "
                                         f"{cfg.image_size}×{cfg.image_size} pixels.")


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

    def fill_gallery(model_name):
        return dataset_gallery(shell, model_name, label="Click a test image")

    shell.on_model_change(fill_gallery, [shell.model_picker], gallery)

    def pick_from_gallery(model_name, evt: gr.SelectData):
        ckpt = shell.model(model_name)
        cfg = ckpt.model.config
        data = test_images(ckpt.dataset, cfg.image_size, cfg.channels)
        return gallery_indices(data.labels)[evt.index]

    gallery.select(pick_from_gallery, [shell.model_picker], test_index, api_visibility="private")

    preview = lambda *args: prepare_input(shell, *args)  # noqa: E731
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
    ckpt = shell.store.models.get(model_name) if model_name else None
    if ckpt is None:
        return gr.Gallery(value=[])
    cfg = ckpt.model.config
    try:
        data = test_images(ckpt.dataset, cfg.image_size, cfg.channels)
    except gr.Error:
        return gr.Gallery(value=[], label=f"No test images for {ckpt.dataset}")
    return gr.Gallery(value=gallery_items(data, gallery_indices(data.labels, count)), label=label)
