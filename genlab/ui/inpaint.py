"""Tab "Inpainting": hide part of an image and see the VAE, the GAN and a diffusion model fill it in, side by side.

The image comes from the shared picker (genlab.ui.inputs); the hidden part from a preset or a brush
painted over the image. The maths lives in genlab.inpainting: the VAE fits its posterior to the
visible pixels, the GAN is inverted on them, the diffusion model samples with the visible pixels put
back at every step, and all paste the visible pixels back. Each model
makes several fills from different random starts: a fill is a guess, and the spread is the lesson.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from genlab.inpainting import (DEFAULT_STEPS, DIFFUSION_RESAMPLE, DIFFUSION_STEPS, MASK_PRESETS, MAX_STEPS, Inpainting, check_mask, mask_from_paint, masked_sharpness,
                               preset_mask)
from genlab.service import ModelService
from genlab.ui.images import picture, to_pil
from genlab.ui.inputs import build_picker, resolve
from genlab.ui.uploads import Drawing
from genlab.ui.shell import FILL_CONCURRENCY, FILLS, Shell, cached_event, user_error

BRUSH = "paint with the brush"
MASK_CHOICES = (BRUSH, *MASK_PRESETS)
MAX_FILLS = 8
MIN_STEPS, MAX_UI_STEPS = 10, min(1000, MAX_STEPS)
EDITOR_SIZE = 224  # the image is painted over at 8x
HIDDEN_COLOUR = (0.85, 0.27, 0.94)  # the hole, as the models are shown it (the brush's colour)
CELL = 112  # pixels per fill in the galleries
DIFFUSION_BOX = "Diffusion fills too"
FILLERS = ("vae", "gan", "diffusion")  # the dataset's models that fill (`ModelStore.chosen`), in the page's order

INTRO = """
Hide part of an image and let both models guess what was there. The **VAE** fits its posterior to
the pixels you left visible (their likelihood plus the pull of the prior) and draws from it; the
**GAN**, which has no encoder, searches for latents whose pictures agree with the visible pixels
(inversion on those pixels only). The **diffusion model** searches nothing: it samples from noise and,
after every step, puts your visible pixels back (noised to that step). All paste your visible pixels
back, so only the hole changes.
Each model guesses several times, from different random starts: how much the guesses differ is how
unsure the model is. The lesson's claim to check: *VAE fills are smoother, GAN fills sharper.*
"""


# ----------------------------------------------------------------------------- the mask


def paint_coverage(layer: Image.Image) -> np.ndarray:
    """How much of each pixel of a brush layer is painted, (h, w) in [0, 1].

    A layer with transparency (the brush's) counts its opaque pixels; an opaque picture (a mask sent
    over the API as a plain PNG) counts its light pixels.
    """
    rgba = np.asarray(layer.convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3]
    if (alpha < 1.0).any():
        return alpha
    return rgba[..., :3].mean(-1)


def mask_of(preset: Any, editor: Any, height: int, width: int) -> torch.Tensor:
    """The hidden pixels (H, W) bool from the preset or the brush; a user error for a bad mask."""
    if preset not in MASK_CHOICES:
        raise user_error(f"Hide must be one of: {', '.join(MASK_CHOICES)} (got {preset!r}).")
    if preset != BRUSH:
        hidden = preset_mask(str(preset), height, width)
    else:
        layers = [layer for layer in (editor or {}).get("layers") or [] if layer is not None]
        if not layers:
            raise user_error("Nothing is hidden: paint over part of the image with the brush, or pick a preset.")
        if len({layer.size for layer in layers}) > 1:
            raise user_error("The brush layers have different sizes: clear the mask and paint it again.")
        try:
            hidden = mask_from_paint(np.maximum.reduce([paint_coverage(layer) for layer in layers]), height, width)
        except ValueError as e:
            raise user_error(str(e)) from None
    try:
        return check_mask(hidden, height, width)
    except ValueError as e:
        raise user_error(str(e)) from None


def masked_view(image: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """(C, H, W) -> (3, H, W): the image with the hidden pixels in the brush's colour."""
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image[:3]
    colour = torch.tensor(HIDDEN_COLOUR, dtype=rgb.dtype)[:, None, None].expand_as(rgb)
    return torch.where(hidden, colour, rgb)


def editor_value(shell: Shell, model: Any, source: Any, upload: Any, drawing: Any, test_index: Any,
                 seed: Any) -> dict[str, Any] | None:
    """The brush's canvas for a newly picked image: the image as the model sees it, enlarged, no strokes.

    The image is resolved here from the picker's choice (not read back from the page), so no
    picture travels from the browser to the server that the checked inputs have not read."""
    try:
        image = resolve(shell, shell.model(model), source, upload, drawing, test_index, seed).image
    except gr.Error:
        return None  # nothing to paint on yet: the picker's note says why
    background = to_pil(image, EDITOR_SIZE).convert("RGB").resize((EDITOR_SIZE, EDITOR_SIZE),
                                                                  Image.Resampling.NEAREST)
    return {"background": background, "layers": [], "composite": background}


# ----------------------------------------------------------------------------- the fills


def _verdict(service: ModelService, label: int, confidence: float) -> str:
    names = service.class_names
    name = names[label] if 0 <= label < len(names) else str(label)
    return f"{name} ({100 * confidence:.0f}%)"


def _number(x: float, digits: int) -> str:
    return "–" if x != x else f"{x:.{digits}f}"  # NaN: no hidden pixel away from the border


def fill_report(kind: str, service: ModelService, result: Inpainting) -> tuple[list[tuple[Image.Image, str]], str]:
    """(gallery items captioned with their number and verdict, a Markdown table of the numbers) for one model."""
    items, rows = [], []
    for i in range(result.completed.shape[0]):
        error, sharp = float(result.hidden_error[i]), float(result.sharpness[i])
        says = (_verdict(service, int(result.predicted[i]), float(result.confidence[i]))
                if result.predicted is not None else "–")
        # Short: the caption sits over the picture's foot; the table under the gallery has the numbers.
        items.append((to_pil(result.completed[i], CELL), f"#{i + 1} · {says.split(' (')[0]}"))
        rows.append(f"| {i + 1} | {_number(error, 4)} | {_number(sharp, 3)} | {says} |")
    hole = result.completed[:, :, result.hidden]  # (F, C, K)
    spread = float(hole.std(0, unbiased=False).mean()) if hole.shape[0] > 1 else float("nan")
    table = (f"**{kind}** {service.name} ({service.latent_dim}-d {service.latent_word}), {result.seconds:.1f} s\n\n"
             "| fill | error in the hole (MSE) | sharpness of the hole | classifier says |\n|--:|--:|--:|---|\n"
             + "\n".join(rows)
             + f"\n| mean | {_number(float(result.hidden_error.mean()), 4)} "
               f"| {_number(float(result.sharpness.mean()), 3)} | |\n\n"
             f"Spread of the guesses: {_number(spread, 3)} (the standard deviation of a hidden pixel across "
             "the fills, averaged over the hole).")
    return items, table


# Threads that wait for a request's two searches (genlab.inpainting's FillBatcher does the work).
_SEARCHES = concurrent.futures.ThreadPoolExecutor(max_workers=len(FILLERS) * FILL_CONCURRENCY, thread_name_prefix="genlab-inpaint")


def _wait_reporting(searches: dict[str, concurrent.futures.Future], reached: dict[str, tuple[int, int]],
                    progress: Any) -> None:
    """Wait for the searches, passing their steps on to `progress` (a gr.Progress, which works only
    in the request's own thread) as one count: the models' steps together."""
    last = None
    while searches:
        done, _ = concurrent.futures.wait(list(searches.values()), timeout=0.1)
        now = tuple(reached.values())
        if progress is not None and now != last:
            last = now
            names = " and ".join("diffusion" if kind == "diffusion" else kind.upper() for kind in reached)
            progress((sum(step for step, _ in now), sum(total for _, total in now)),
                     desc=f"{names}: fitting the visible pixels", unit="steps")
        if len(done) == len(searches):
            return


def run_inpaint(shell: Shell, model: Any, source: Any, upload: Any, drawing: Any, test_index: Any, seed: Any,
                mask_preset: Any, mask_drawing: Any, fills: Any, steps: Any, fill_seed: Any, with_diffusion: Any = False,
                progress: Any = None):
    """The `inpaint` endpoint: (original, what the models see, VAE fills, VAE numbers, GAN fills, GAN numbers,
    diffusion fills, diffusion numbers, note).

    The image comes from the picker (as `model` sees it); the dataset's VAE and GAN (`ModelStore.chosen`)
    each fill it, and its diffusion model too (with its own ODE steps, not `steps`) when `with_diffusion`
    or when the picked model samples by steps itself. The diffusion fill costs several times the two
    searches together, so a class pressing the button at once does not pay for it unless asked.
    """
    picked = shell.model(model)
    with_diffusion = bool(with_diffusion) or picked.sample_steps is not None
    fills = shell.int_in_range(fills, "Fills per model", 1, MAX_FILLS)
    steps = shell.int_in_range(steps, "Search steps", MIN_STEPS, MAX_UI_STEPS)
    fill_seed = shell.seed(fill_seed)
    image = resolve(shell, picked, source, upload, drawing, test_index, seed).image
    hidden = mask_of(mask_preset, mask_drawing, image.shape[1], image.shape[2])
    chosen = shell.store.chosen(picked.dataset)
    if all(chosen.get(kind) is None for kind in FILLERS):
        raise user_error(f"There is no VAE, GAN or diffusion model for {picked.dataset}.")
    # The models' searches at once (each joins its model's search of the class's requests, on a core
    # of its own): the answer comes after the slowest, not after all of them one by one.
    notes: dict[str, str] = {}
    searches: dict[str, concurrent.futures.Future] = {}
    reached: dict[str, tuple[int, int]] = {}
    for kind in FILLERS:
        service = chosen.get(kind)
        if kind == "diffusion" and service is not None and not with_diffusion:
            notes[kind] = (f"Tick “{DIFFUSION_BOX}” to see {service.name} fill it too (slower: it samples "
                           f"{DIFFUSION_STEPS} steps, each redone {DIFFUSION_RESAMPLE} times, where the others search).")
        elif service is None:
            what = "diffusion model" if kind == "diffusion" else kind.upper()
            notes[kind] = f"There is no {what} for {picked.dataset} yet."
        elif service.image_shape != tuple(image.shape):
            notes[kind] = (f"{service.name} makes {service.image_shape[1]}×{service.image_shape[2]} images; "
                           f"this one is {image.shape[1]}×{image.shape[2]}.")
        else:
            reached[kind] = (0, steps)
            searches[kind] = _SEARCHES.submit(
                shell.serve, service.inpaint, image, hidden, fills=fills, steps=steps, seed=fill_seed,
                progress=lambda step, total, kind=kind: reached.__setitem__(kind, (step, total)))
    _wait_reporting(searches, reached, progress)
    outputs: list[Any] = []
    for kind in FILLERS:
        if kind in notes:
            outputs += [None, notes[kind]]
        else:
            service = chosen[kind]
            outputs += list(fill_report(service.label[0].upper() + service.label[1:], service,
                                        searches[kind].result()))
    truth = f"The truth: sharpness of the hidden region {_number(float(masked_sharpness(image[None], hidden)[0]), 3)}"
    verdicts = picked.verdicts(image[None])
    if verdicts:
        truth += f"; the classifier says {verdicts[0][0]} ({100 * verdicts[0][1]:.0f}%)"
    how_diffusion = (f" (the diffusion model: {DIFFUSION_STEPS} sampling steps, each redone {DIFFUSION_RESAMPLE} "
                     "times)" if "diffusion" in searches else "")
    note = (f"**{int(hidden.sum())}** of {hidden.numel()} pixels hidden; {fills} fills per model, {steps} search steps"
            f"{how_diffusion}, starts from seed {fill_seed}. {truth}. Error: the mean squared difference from the true pixels in "
            "the hole (a blurry average scores well on it); sharpness: the variance of the Laplacian there "
            "(blur scores low).")
    return (to_pil(image, 224), to_pil(masked_view(image, hidden), 224), *outputs, note)


def mask_preview(shell: Shell, model: Any, source: Any, upload: Any, drawing: Any, test_index: Any, seed: Any,
                 mask_preset: Any, mask_drawing: Any) -> tuple[Any, str]:
    """What the models will see, as the mask changes; problems become a note (this runs on every stroke)."""
    try:
        picked = shell.model(model)
        image = resolve(shell, picked, source, upload, drawing, test_index, seed).image
        hidden = mask_of(mask_preset, mask_drawing, image.shape[1], image.shape[2])
    except gr.Error as e:
        return None, f"⚠️ {e.message}"
    return to_pil(masked_view(image, hidden), 224), f"{int(hidden.sum())} of {hidden.numel()} pixels hidden."


# ----------------------------------------------------------------------------- layout


def build(shell: Shell) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column():
            picker = build_picker(shell, "Image", default_seed=0, elem_id="genlab-inpaint-image")
        with gr.Column():
            mask_preset = gr.Dropdown(list(MASK_CHOICES), value="bottom half", label="Hide",
                                      info=f"a preset, or “{BRUSH}”: pick the brush below and paint the hole")
            mask_drawing = Drawing(label="Brush: paint over what to hide",
                                   canvas_size=(EDITOR_SIZE, EDITOR_SIZE), fixed_canvas=True, height=300,
                                   brush=gr.Brush(colors=["#d946ef"], color_mode="fixed", default_size=24),
                                   eraser=gr.Eraser(default_size=24), layers=False, transforms=(), format="png",
                                   elem_id="genlab-inpaint-mask")
            with gr.Row():
                preview = picture("The hole, as it will be hidden", height=150, buttons=[])
                preview_note = gr.Markdown("")
    with gr.Row():
        fills = gr.Slider(1, MAX_FILLS, value=4, step=1, label="Fills per model", info="guesses from different starts")
        steps = gr.Slider(MIN_STEPS, MAX_UI_STEPS, value=DEFAULT_STEPS, step=10, label="Search steps",
                          info="more: a closer fit to the visible pixels, slower")
        fill_seed = gr.Number(0, label="Seed of the starts", precision=0, minimum=0)
        with_diffusion = gr.Checkbox(False, label=DIFFUSION_BOX,
                                     info="the dataset's diffusion model fills too (slower; always when one is picked)")
    run_button = gr.Button("Fill the hole", variant="primary", elem_id="genlab-inpaint-button")
    with gr.Row():
        original = picture("The original", height=200)
        masked = picture("What the models see", height=200)
    with gr.Row():
        with gr.Column():
            vae_fills = gr.Gallery(label="VAE fills (# · classifier)", columns=4, height=170, format="png",
                                   interactive=False, object_fit="contain", allow_preview=False,
                                   elem_classes=["genlab-pixelated"], elem_id="genlab-inpaint-vae")
            vae_numbers = gr.Markdown("")
        with gr.Column():
            gan_fills = gr.Gallery(label="GAN fills (# · classifier)", columns=4, height=170, format="png",
                                   interactive=False, object_fit="contain", allow_preview=False,
                                   elem_classes=["genlab-pixelated"], elem_id="genlab-inpaint-gan")
            gan_numbers = gr.Markdown("")
        with gr.Column():
            diffusion_fills = gr.Gallery(label="Diffusion fills (# · classifier)", columns=4, height=170,
                                         format="png", interactive=False, object_fit="contain",
                                         allow_preview=False, elem_classes=["genlab-pixelated"],
                                         elem_id="genlab-inpaint-diffusion")
            diffusion_numbers = gr.Markdown("")
    note = gr.Markdown("")

    # The brush paints over the picked image; a new image clears the strokes.
    def editor_event(model, source, upload, drawing, test_index, seed):
        return editor_value(shell, model, source, upload, drawing, test_index, seed)

    picker.prepared.change(editor_event, [shell.model_picker, *picker.inputs], mask_drawing,
                           api_visibility="private", show_progress="hidden")

    def preview_event(model, source, upload, drawing, test_index, seed, mask_preset, mask_drawing):
        return mask_preview(shell, model, source, upload, drawing, test_index, seed, mask_preset, mask_drawing)

    preview_inputs = [shell.model_picker, *picker.inputs, mask_preset, mask_drawing]
    gr.on([mask_preset.change, mask_drawing.change, picker.prepared.change], preview_event, preview_inputs,
          [preview, preview_note], api_visibility="private", show_progress="hidden", trigger_mode="always_last")
    # The first view: the default picture under the brush, and its default hole.
    shell.on_load(editor_event, [shell.model_picker, *picker.inputs], mask_drawing)
    shell.on_load(preview_event, preview_inputs, [preview, preview_note])

    # Written out with named parameters: they name the API's parameters, and Gradio finds gr.Progress
    # only among them.
    @cached_event
    def inpaint_event(model, source, upload, drawing, test_index, seed, mask_preset, mask_drawing, fills, steps,
                      fill_seed, with_diffusion=False, progress=gr.Progress()):
        return run_inpaint(shell, model, source, upload, drawing, test_index, seed, mask_preset, mask_drawing,
                           fills, steps, fill_seed, with_diffusion, progress=progress)

    run_button.click(inpaint_event, [*preview_inputs, fills, steps, fill_seed, with_diffusion],
                     [original, masked, vae_fills, vae_numbers, gan_fills, gan_numbers, diffusion_fills,
                      diffusion_numbers, note], api_name="inpaint_ui",
                     api_visibility="undocumented",
                     **FILLS)
